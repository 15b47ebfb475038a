"""Queries for the plan catalog (billing_plans, billing_quotas)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Connection, delete, insert, select, update

from ..domain.plans import DEFAULT_PLANS, EnforcementMode, Plan, Quota
from ..domain.services import SERVICE_NAMES
from .tables import plans, quotas


def _mode(value: str | None) -> EnforcementMode:
    return EnforcementMode.HARD if (value or "").lower() == "hard" else EnforcementMode.SOFT


def _quota_rows_by_plan(conn: Connection, plan_name: str | None = None) -> dict[str, list[Quota]]:
    query = select(quotas)
    if plan_name is not None:
        query = query.where(quotas.c.plan_name == plan_name)
    result: dict[str, list[Quota]] = {}
    for row in conn.execute(query):
        if row.service_name not in SERVICE_NAMES:
            continue  # an operator's row for a service we do not meter
        result.setdefault(row.plan_name, []).append(Quota(
            plan_name=row.plan_name,
            service=row.service_name,
            limit=None if row.limit_value is None else Decimal(row.limit_value),
            mode=_mode(row.enforcement_mode),
            overage_price=Decimal(row.overage_price or 0),
        ))
    return result


def _plan(row: object, plan_quotas: list[Quota]) -> Plan:
    order = {name: i for i, name in enumerate(SERVICE_NAMES)}
    return Plan(
        name=row.plan_name,  # type: ignore[attr-defined]
        price_monthly=row.price_monthly,  # type: ignore[attr-defined]
        price_yearly=row.price_yearly,  # type: ignore[attr-defined]
        description=row.description or "",  # type: ignore[attr-defined]
        tier=row.tier or 0,  # type: ignore[attr-defined]
        stripe_price_id=row.stripe_price_id,  # type: ignore[attr-defined]
        quotas=tuple(sorted(plan_quotas, key=lambda q: order[q.service])),
    )


def list_plans(conn: Connection) -> list[Plan]:
    """Every plan, cheapest tier first."""
    by_plan = _quota_rows_by_plan(conn)
    rows = conn.execute(select(plans).order_by(plans.c.tier, plans.c.price_monthly,
                                               plans.c.plan_name))
    return [_plan(row, by_plan.get(row.plan_name, [])) for row in rows]


def get_plan(conn: Connection, plan_name: str) -> Plan | None:
    row = conn.execute(select(plans).where(plans.c.plan_name == plan_name)).first()
    if row is None:
        return None
    return _plan(row, _quota_rows_by_plan(conn, plan_name).get(plan_name, []))


def upsert_plan(conn: Connection, plan: Plan, *, replace_quotas: bool = True) -> None:
    """Create or update a plan and, when asked, make its quota rows exactly ``plan.quotas``."""
    values = {
        "price_monthly": plan.price_monthly,
        "price_yearly": plan.price_yearly,
        "description": plan.description,
        "tier": plan.tier,
    }
    updated = conn.execute(update(plans).where(plans.c.plan_name == plan.name).values(**values))
    if updated.rowcount == 0:
        conn.execute(insert(plans).values(plan_name=plan.name, **values))
    if replace_quotas:
        conn.execute(delete(quotas).where(quotas.c.plan_name == plan.name))
        if plan.quotas:
            conn.execute(insert(quotas), [
                {
                    "plan_name": plan.name,
                    "service_name": quota.service,
                    "limit_value": quota.limit,
                    "limit_type": quota.unit,
                    "enforcement_mode": quota.mode.value,
                    "overage_price": quota.overage_price,
                }
                for quota in plan.quotas
            ])


def seed_default_plans(conn: Connection) -> None:
    for plan in DEFAULT_PLANS:
        upsert_plan(conn, plan)
