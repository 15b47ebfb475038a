"""Plan catalog use cases: list, show, compare, the current plan, and plans.toml."""

from __future__ import annotations

import builtins
import tomllib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..domain.money import (
    MAX_LIMIT,
    PLAN_PRICE_PLACES,
    QUANTITY_PLACES,
    UNIT_PRICE_PLACES,
    decimal_places,
)
from ..domain.plans import EnforcementMode, Plan, Quota
from ..domain.services import SERVICE_NAMES
from ..errors import ConfigError, PlanNotFound
from ..store import catalog as store
from .context import Context
from .engines import SubscriptionEngine


class PlanService:
    """The catalog; ``subscriptions`` (the chosen engine, given as a callable so that reading
    the catalog does not build it) answers which plan a customer is on."""

    def __init__(self, ctx: Context, *, subscriptions: Callable[[], SubscriptionEngine]) -> None:
        self._ctx = ctx
        self._subscriptions = subscriptions

    def list(self) -> builtins.list[Plan]:
        with self._ctx.db.read() as conn:
            return store.list_plans(conn)

    def get(self, plan_name: str) -> Plan:
        with self._ctx.db.read() as conn:
            plan = store.get_plan(conn, plan_name)
        if plan is None:
            raise PlanNotFound(plan_name)
        return plan

    def current(self, customer_id: str) -> Plan:
        """The plan of the current subscription, as the chosen engine has it (Stripe's read
        from Stripe first)."""
        subscription = self._subscriptions().current(customer_id)
        with self._ctx.db.read() as conn:
            plan = store.get_plan(conn, subscription.plan_name)
        if plan is None:
            raise PlanNotFound(subscription.plan_name)
        return plan

    def apply_file(self, path: Path) -> builtins.list[str]:
        """Apply a plans.toml: create or update the plans it names. Returns their names."""
        changed = parse_plans_file(path, self.list())
        with self._ctx.db.write() as conn:
            for plan in changed:
                store.upsert_plan(conn, plan)
        return [plan.name for plan in changed]


def parse_plans_file(path: Path, existing: list[Plan]) -> list[Plan]:
    """Plans from a plans.toml, merged over the existing catalog::

    [plans.team]
    price_monthly = 49          # omit (or "custom") for a custom price
    price_yearly = 490
    description = "500K API requests, 50GB storage"
    tier = 2
    [plans.team.quotas.api]
    limit = 500000              # or "unlimited"
    mode = "soft"               # or "hard"
    overage_price = "0.000009"

    A plan not yet in the catalog names every service (``limit = "unlimited"`` says so
    explicitly); a plan already in the catalog keeps the quotas of the services the file omits.
    No two plans share a tier (it ranks plans for upgrades and downgrades). A number with more
    decimal places than the store keeps is refused, never rounded.
    """
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"Invalid {path.name}: {error}") from None
    entries = document.get("plans", {})
    if not isinstance(entries, dict):
        raise ConfigError(f"Invalid {path.name}: [plans] must be a table")
    by_name = {plan.name: plan for plan in existing}
    result = []
    for name, entry in entries.items():
        where = f"{path.name} [plans.{name}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"Invalid {where}: must be a table")
        base = by_name.get(name, Plan(name, None, None))
        quotas = {quota.service: quota for quota in base.quotas}
        named = entry.get("quotas") or {}
        if not isinstance(named, dict):
            raise ConfigError(f"Invalid {where}: quotas must be a table")
        for service, spec in named.items():
            quotas[service] = _quota(name, service, spec, f"{where} quotas.{service}")
        plan = Plan(
            name=name,
            price_monthly=_price(entry, "price_monthly", base.price_monthly, where),
            price_yearly=_price(entry, "price_yearly", base.price_yearly, where),
            description=str(entry.get("description", base.description)),
            tier=_int(entry.get("tier", base.tier), where),
            quotas=tuple(
                quotas[s] for s in SERVICE_NAMES if s in quotas and quotas[s].limit is not None
            ),
        )
        missing = [s for s in SERVICE_NAMES if s not in named]
        if name not in by_name and missing:
            raise ConfigError(
                f"Invalid {where}: a new plan names every service; missing "
                f'{", ".join(missing)} (write limit = "unlimited" for no limit)'
            )
        result.append(plan)
    _refuse_shared_tiers(path, {**by_name, **{plan.name: plan for plan in result}})
    return result


def _refuse_shared_tiers(path: Path, catalog: dict[str, Plan]) -> None:
    by_tier: dict[int, list[str]] = {}
    for plan in catalog.values():
        by_tier.setdefault(plan.tier, []).append(plan.name)
    for tier, names in sorted(by_tier.items()):
        if len(names) > 1:
            raise ConfigError(
                f"Invalid {path.name}: plans {' and '.join(sorted(names))} share tier {tier} "
                "(tier ranks plans for upgrades and downgrades: give each plan its own, e.g. "
                "renumber the plans above it in the same file)"
            )


def _places(number: Decimal, places: int, where: str, value: Any) -> Decimal:
    if decimal_places(number) > places:
        raise ConfigError(
            f"Invalid {where}: {value!r} has more than {places} decimal places "
            f"(the store keeps {places}; a number is never rounded)"
        )
    return number


def _number(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise ConfigError(f"Invalid {where}: {value!r} is not a number")
    try:
        number = Decimal(value)
    except ArithmeticError:
        raise ConfigError(f"Invalid {where}: {value!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise ConfigError(f"Invalid {where}: {value!r} must be zero or more")
    return number


def _price(entry: dict[str, Any], key: str, default: Decimal | None, where: str) -> Decimal | None:
    if key not in entry:
        return default
    value = entry[key]
    if isinstance(value, str) and value.lower() == "custom":
        return None
    return _places(_number(value, f"{where} {key}"), PLAN_PRICE_PLACES, f"{where} {key}", value)


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"Invalid {where}: tier must be a whole number")
    return value


def _quota(plan: str, service: str, spec: Any, where: str) -> Quota:
    if service not in SERVICE_NAMES:
        raise ConfigError(f"Invalid {where}: unknown service {service}")
    if not isinstance(spec, dict):
        raise ConfigError(f"Invalid {where}: must be a table")
    limit_value = spec.get("limit", "unlimited")
    limit = (
        None
        if limit_value == "unlimited"
        else _places(
            _number(limit_value, where + " limit"), QUANTITY_PLACES, where + " limit", limit_value
        )
    )
    if limit is not None and limit > MAX_LIMIT:
        raise ConfigError(f'Invalid {where} limit: above {MAX_LIMIT} (use "unlimited")')
    price_value = spec.get("overage_price", 0)
    price = _places(
        _number(price_value, where + " overage_price"),
        UNIT_PRICE_PLACES,
        where + " overage_price",
        price_value,
    )
    mode = str(spec.get("mode", "soft")).lower()
    if mode not in ("soft", "hard"):
        raise ConfigError(f"Invalid {where}: mode must be soft or hard")
    return Quota(
        plan,
        service,
        limit,
        EnforcementMode(mode),
        price,
    )
