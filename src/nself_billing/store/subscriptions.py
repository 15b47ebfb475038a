"""Queries for billing_subscriptions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, or_, select, update

from ..domain.periods import Period
from ..domain.subscriptions import LIVE_STATUSES, Subscription, SubscriptionStatus
from .dialect import stored_enum
from .tables import subscriptions


def to_subscription(row: Any) -> Subscription:
    return Subscription(
        subscription_id=row.subscription_id,
        customer_id=row.customer_id,
        plan_name=row.plan_name,
        status=stored_enum(SubscriptionStatus, row.status, "subscription status"),
        period=Period(row.current_period_start, row.current_period_end),
        cancel_at_period_end=bool(row.cancel_at_period_end),
        interval=row.billing_interval or "month",
        anchor_at=row.anchor_at or row.current_period_start,
        trial_end=row.trial_end,
        scheduled_plan_name=row.scheduled_plan_name,
        canceled_at=row.canceled_at,
        period_plan_name=row.period_plan_name or row.plan_name,
    )


def current_for(
    conn: Connection, customer_id: str, *, for_update: bool = False
) -> Subscription | None:
    """The customer's live subscription (the newest, should an operator have made several).
    ``for_update`` locks its row (PostgreSQL) against a concurrent change or period close."""
    query = _CURRENT_FOR_UPDATE if for_update else _CURRENT
    row = conn.execute(query, {"customer_id": customer_id}).first()
    return None if row is None else to_subscription(row)


def live_by_customer(conn: Connection) -> dict[str, Subscription]:
    """Each customer's live subscription (the newest, as ``current_for`` picks it)."""
    query = (
        select(subscriptions)
        .where(subscriptions.c.status.in_(LIVE_STATUSES))
        .order_by(subscriptions.c.created_at, subscriptions.c.subscription_id)
    )
    return {row.customer_id: to_subscription(row) for row in conn.execute(query)}


# built once (the read API asks for it on every request: building it costs more than running it)
_CURRENT = (
    select(subscriptions)
    .where(
        subscriptions.c.customer_id == bindparam("customer_id"),
        # one bound value per status: an IN list would be re-rendered on every execution
        or_(*(subscriptions.c.status == status for status in LIVE_STATUSES)),
    )
    .order_by(subscriptions.c.created_at.desc(), subscriptions.c.subscription_id.desc())
    .limit(1)
)
_CURRENT_FOR_UPDATE = _CURRENT.with_for_update()


def get(conn: Connection, subscription_id: str) -> Subscription | None:
    row = conn.execute(
        select(subscriptions).where(subscriptions.c.subscription_id == subscription_id)
    ).first()
    return None if row is None else to_subscription(row)


def add(conn: Connection, subscription: Subscription, *, now: datetime) -> None:
    conn.execute(
        insert(subscriptions).values(
            subscription_id=subscription.subscription_id,
            customer_id=subscription.customer_id,
            plan_name=subscription.plan_name,
            status=subscription.status,
            current_period_start=subscription.period.start,
            current_period_end=subscription.period.end,
            cancel_at_period_end=subscription.cancel_at_period_end,
            billing_interval=subscription.interval,
            anchor_at=subscription.anchor_at or subscription.period.start,
            trial_end=subscription.trial_end,
            period_plan_name=subscription.plan_name,
            created_at=now,
            updated_at=now,
        )
    )


def change(conn: Connection, subscription_id: str, *, now: datetime, **values: Any) -> None:
    """Set columns of one subscription (plan_name, scheduled_plan_name, status, ...)."""
    conn.execute(
        update(subscriptions)
        .where(subscriptions.c.subscription_id == subscription_id)
        .values(**values, updated_at=now)
    )


def current_periods(
    conn: Connection, statuses: Sequence[str], customer_id: str | None = None
) -> list[tuple[str, datetime, datetime]]:
    """(customer, period start, period end) of the subscriptions in ``statuses`` (of one
    customer, or all) that have a current period."""
    query = select(
        subscriptions.c.customer_id,
        subscriptions.c.current_period_start,
        subscriptions.c.current_period_end,
    ).where(subscriptions.c.status.in_(list(statuses)))
    if customer_id:
        query = query.where(subscriptions.c.customer_id == customer_id)
    return [
        (row[0], row[1], row[2])
        for row in conn.execute(query)
        if row[1] is not None and row[2] is not None
    ]
