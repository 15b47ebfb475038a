"""Queries for the plan catalog (billing_plans, billing_quotas)."""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select, update

from ..domain.plans import DEFAULT_PLANS, Plan, Quota
from .catalog_rows import plan_from_row, quotas_by_plan
from .tables import plans, quotas

_QUOTA_COLUMNS = (
    quotas.c.plan_name,
    quotas.c.service_name,
    quotas.c.limit_value,
    quotas.c.enforcement_mode,
    quotas.c.overage_price,
)
_PLAN_COLUMNS = (
    plans.c.plan_name,
    plans.c.price_monthly,
    plans.c.price_yearly,
    plans.c.description,
    plans.c.tier,
    plans.c.stripe_price_id,
)


def _quota_rows_by_plan(conn: Connection, plan_name: str | None = None) -> dict[str, list[Quota]]:
    query = select(*_QUOTA_COLUMNS)
    if plan_name is not None:
        query = query.where(quotas.c.plan_name == plan_name)
    return quotas_by_plan(conn.execute(query))


def list_plans(conn: Connection) -> list[Plan]:
    """Every plan, cheapest tier first."""
    by_plan = _quota_rows_by_plan(conn)
    rows = conn.execute(
        select(*_PLAN_COLUMNS).order_by(plans.c.tier, plans.c.price_monthly, plans.c.plan_name)
    )
    return [plan_from_row(row, by_plan.get(row.plan_name, [])) for row in rows]


def get_plan(conn: Connection, plan_name: str) -> Plan | None:
    row = conn.execute(select(*_PLAN_COLUMNS).where(plans.c.plan_name == plan_name)).first()
    if row is None:
        return None
    return plan_from_row(row, _quota_rows_by_plan(conn, plan_name).get(plan_name, []))


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
            conn.execute(
                insert(quotas),
                [
                    {
                        "plan_name": plan.name,
                        "service_name": quota.service,
                        "limit_value": quota.limit,
                        "limit_type": quota.unit,
                        "enforcement_mode": quota.mode.value,
                        "overage_price": quota.overage_price,
                    }
                    for quota in plan.quotas
                ],
            )


def seed_default_plans(conn: Connection) -> None:
    for plan in DEFAULT_PLANS:
        upsert_plan(conn, plan)
