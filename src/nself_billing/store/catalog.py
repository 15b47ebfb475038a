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


# -- the Stripe ids of a plan (written by ``plan sync``) ---------------------------------------


def plan_currencies(conn: Connection) -> dict[str, str | None]:
    """Each plan's currency as stored (None where the catalog names none)."""
    return {row[0]: row[1] for row in conn.execute(select(plans.c.plan_name, plans.c.currency))}


def has_unsynced_plan(conn: Connection) -> bool:
    """Is there a plan without a Stripe product (never synced)?"""
    return (
        conn.execute(select(plans.c.plan_name).where(plans.c.stripe_product_id.is_(None))).first()
        is not None
    )


def set_stripe_ids(
    conn: Connection,
    plan_name: str,
    *,
    product_id: str | None,
    price_monthly_id: str | None,
    price_yearly_id: str | None,
) -> None:
    conn.execute(
        update(plans)
        .where(plans.c.plan_name == plan_name)
        .values(
            stripe_product_id=product_id,
            stripe_price_id=price_monthly_id,
            stripe_price_id_yearly=price_yearly_id,
        )
    )


def stripe_price_id(conn: Connection, plan_name: str, *, yearly: bool) -> tuple[bool, str | None]:
    """(whether the plan exists, its Stripe price id for the interval or None)."""
    column = plans.c.stripe_price_id_yearly if yearly else plans.c.stripe_price_id
    row = conn.execute(select(column).where(plans.c.plan_name == plan_name)).first()
    if row is None:
        return False, None
    return True, str(row[0]) if row[0] else None
