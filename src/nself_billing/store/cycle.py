"""Set-based queries of the period close: due subscriptions, usage per billing window, what
was rated per period, per-customer quota overrides, and the bulk writes of a batch."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from ..domain.money import from_micros, to_micros, unit_price
from ..domain.plans import EnforcementMode, Quota
from ..domain.subscriptions import LIVE_STATUSES, Subscription
from .dialect import upsert_insert
from .subscriptions import to_subscription
from .tables import quota_overrides, rated_usage, subscriptions, usage_daily

#: ids per IN (...) list: well under every driver's parameter limit
CHUNK = 1000


def _chunks(items: Sequence[str], size: int = CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def due(
    conn: Connection,
    now: datetime,
    *,
    limit: int,
    exclude: Iterable[str] = (),
    only: str | None = None,
) -> list[Subscription]:
    """Live subscriptions whose period has ended, oldest first, locked for this transaction.
    A concurrent close on PostgreSQL skips the locked ones (SKIP LOCKED) and takes others;
    SQLite serializes writers anyway."""
    query = (
        select(subscriptions)
        .where(subscriptions.c.status.in_(LIVE_STATUSES), subscriptions.c.current_period_end <= now)
        .order_by(subscriptions.c.current_period_end, subscriptions.c.subscription_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if only is not None:
        query = query.where(subscriptions.c.subscription_id == only)
    skipped = list(exclude)
    if skipped:
        query = query.where(subscriptions.c.subscription_id.not_in(skipped))
    return [to_subscription(row) for row in conn.execute(query)]


def usage_totals(
    conn: Connection, windows: Mapping[tuple[date, date], Sequence[str]]
) -> dict[tuple[str, date, date], dict[str, Decimal]]:
    """Usage per customer and service over whole UTC days [first, end) from the rollups, one
    query per distinct window (subscriptions anchored on the same day share one)."""
    result: dict[tuple[str, date, date], dict[str, Decimal]] = {}
    for (first_day, end_day), customer_ids in windows.items():
        for chunk in _chunks(sorted(set(customer_ids))):
            query = (
                select(
                    usage_daily.c.customer_id,
                    usage_daily.c.service_name,
                    func.sum(usage_daily.c.quantity_micros),
                )
                .where(
                    usage_daily.c.customer_id.in_(chunk),
                    usage_daily.c.day >= first_day,
                    usage_daily.c.day < end_day,
                )
                .group_by(usage_daily.c.customer_id, usage_daily.c.service_name)
            )
            for customer_id, service, micros in conn.execute(query):
                key = (customer_id, first_day, end_day)
                result.setdefault(key, {})[service] = from_micros(int(micros or 0))
    return result


@dataclass(frozen=True)
class RatedRow:
    subscription_id: str
    period_start: datetime
    period_end: datetime
    service: str
    plan_name: str
    usage: Decimal
    amount: Decimal


def rated_since(
    conn: Connection, subscription_ids: Sequence[str], since: datetime
) -> list[RatedRow]:
    """What was billed per service for the subscriptions' closed periods ending after
    ``since`` (the window in which late usage is still billed)."""
    rows: list[RatedRow] = []
    for chunk in _chunks(list(subscription_ids)):
        query = (
            select(rated_usage)
            .where(rated_usage.c.subscription_id.in_(chunk), rated_usage.c.period_end > since)
            .order_by(
                rated_usage.c.subscription_id,
                rated_usage.c.period_start,
                rated_usage.c.service_name,
            )
        )
        rows += [
            RatedRow(
                r.subscription_id,
                r.period_start,
                r.period_end,
                r.service_name,
                r.plan_name,
                from_micros(int(r.quantity_micros)),
                Decimal(r.amount),
            )
            for r in conn.execute(query)
        ]
    return rows


def save_rated(
    conn: Connection, rows: Sequence[RatedRow], *, invoice_ids: Mapping[str, str], now: datetime
) -> None:
    """Insert or update what each (subscription, period, service) has been billed at."""
    if not rows:
        return
    statement = upsert_insert(conn)(rated_usage)
    statement = statement.on_conflict_do_update(
        index_elements=["subscription_id", "period_start", "service_name"],
        set_={
            "quantity_micros": statement.excluded.quantity_micros,
            "amount": statement.excluded.amount,
            "invoice_id": statement.excluded.invoice_id,
            "updated_at": statement.excluded.updated_at,
        },
    )
    conn.execute(
        statement,
        [
            {
                "subscription_id": r.subscription_id,
                "period_start": r.period_start,
                "period_end": r.period_end,
                "service_name": r.service,
                "plan_name": r.plan_name,
                "quantity_micros": to_micros(r.usage),
                "amount": r.amount,
                "invoice_id": invoice_ids.get(r.subscription_id),
                "updated_at": now,
            }
            for r in rows
        ],
    )


def overrides_for(
    conn: Connection, customer_ids: Sequence[str]
) -> dict[str, dict[str, tuple[Decimal | None, str | None, Decimal | None]]]:
    """Per-customer quota overrides: customer -> service -> (limit, mode, overage price);
    a NULL limit is unlimited, a NULL mode or price keeps the plan's."""
    result: dict[str, dict[str, tuple[Decimal | None, str | None, Decimal | None]]] = {}
    for chunk in _chunks(sorted(set(customer_ids))):
        query = select(quota_overrides).where(quota_overrides.c.customer_id.in_(chunk))
        for row in conn.execute(query):
            result.setdefault(row.customer_id, {})[row.service_name] = (
                None if row.limit_value is None else Decimal(row.limit_value),
                row.enforcement_mode,
                None if row.overage_price is None else unit_price(Decimal(row.overage_price)),
            )
    return result


def apply_override(
    quota: Quota, override: tuple[Decimal | None, str | None, Decimal | None] | None
) -> Quota:
    if override is None:
        return quota
    limit, mode, price = override
    return Quota(
        quota.plan_name,
        quota.service,
        limit,
        EnforcementMode(mode.lower()) if mode and mode.lower() in ("soft", "hard") else quota.mode,
        quota.overage_price if price is None else price,
    )


def save_subscriptions(
    conn: Connection, changes: Sequence[Mapping[str, Any]], *, now: datetime
) -> None:
    """Write the new state of many subscriptions in one statement (executemany)."""
    if not changes:
        return
    statement = (
        update(subscriptions)
        .where(subscriptions.c.subscription_id == bindparam("b_id"))
        .values(
            status=bindparam("b_status"),
            plan_name=bindparam("b_plan"),
            period_plan_name=bindparam("b_period_plan"),
            scheduled_plan_name=bindparam("b_scheduled"),
            current_period_start=bindparam("b_start"),
            current_period_end=bindparam("b_end"),
            cancel_at_period_end=bindparam("b_cancel"),
            canceled_at=bindparam("b_canceled_at"),
            ended_at=bindparam("b_ended_at"),
            updated_at=now,
        )
    )
    conn.execute(
        statement, [{f"b_{key}": value for key, value in change.items()} for change in changes]
    )
