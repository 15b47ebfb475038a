"""Catalog rows to domain values, shared by the SQLAlchemy queries (catalog.py) and the sqlite3
start-up reader (catalog_sqlite.py), so both build the same plans from the same rows."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from ..domain.money import unit_price
from ..domain.plans import EnforcementMode, Plan, Quota
from ..domain.services import SERVICE_NAMES

_SERVICE_ORDER = {name: i for i, name in enumerate(SERVICE_NAMES)}


def enforcement_mode(value: str | None) -> EnforcementMode:
    return EnforcementMode.HARD if (value or "").lower() == "hard" else EnforcementMode.SOFT


def quotas_by_plan(rows: Iterable[Any]) -> dict[str, list[Quota]]:
    """Quota rows (plan_name, service_name, limit_value, enforcement_mode, overage_price, with
    numbers already Decimal) grouped by plan; rows of services we do not meter are skipped."""
    result: dict[str, list[Quota]] = {}
    for plan_name, service, limit, mode, overage_price in rows:
        if service not in SERVICE_NAMES:
            continue  # an operator's row for a service we do not meter
        result.setdefault(plan_name, []).append(
            Quota(
                plan_name=plan_name,
                service=service,
                limit=None if limit is None else Decimal(limit),
                mode=enforcement_mode(mode),
                overage_price=unit_price(Decimal(overage_price or 0)),
            )
        )
    return result


def plan_from_row(row: Any, plan_quotas: list[Quota]) -> Plan:
    """A plan from its row (plan_name, price_monthly, price_yearly, description, tier,
    stripe_price_id) and its quotas."""
    name, price_monthly, price_yearly, description, tier, stripe_price_id = row
    return Plan(
        name=name,
        price_monthly=price_monthly,
        price_yearly=price_yearly,
        description=description or "",
        tier=tier or 0,
        stripe_price_id=stripe_price_id,
        quotas=tuple(sorted(plan_quotas, key=lambda q: _SERVICE_ORDER[q.service])),
    )
