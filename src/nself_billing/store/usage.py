"""Queries for usage: per-day rollups (billing_usage_daily), read instead of the raw events.
Events are written by ``store/events.py`` (the one write path), rollups in the same
transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, Connection, Table, bindparam, func, select

from ..domain.money import from_micros
from .tables import customers, usage_daily, usage_records


def existing_customers(conn: Connection, customer_ids: Iterable[str]) -> set[str]:
    wanted = sorted(set(customer_ids))
    found: set[str] = set()
    for i in range(0, len(wanted), 500):
        query = select(customers.c.customer_id).where(
            customers.c.customer_id.in_(wanted[i : i + 500])
        )
        found.update(conn.execute(query).scalars())
    return found


@dataclass(frozen=True)
class UsageTotal:
    service: str
    quantity: Decimal
    events: int


def period_totals(
    conn: Connection,
    customer_id: str,
    first_day: date,
    end_day: date,
    services: Iterable[str] | None = None,
) -> dict[str, UsageTotal]:
    """Usage per service over whole UTC days ``first_day`` <= day < ``end_day``, from the
    rollups (never the raw events)."""
    query = (
        select(
            usage_daily.c.service_name,
            func.sum(usage_daily.c.quantity_micros),
            func.sum(usage_daily.c.events),
        )
        .where(
            usage_daily.c.customer_id == customer_id,
            usage_daily.c.day >= first_day,
            usage_daily.c.day < end_day,
        )
        .group_by(usage_daily.c.service_name)
    )
    if services is not None:
        query = query.where(usage_daily.c.service_name.in_(list(services)))
    return {
        service: UsageTotal(service, from_micros(int(micros or 0)), int(events or 0))
        for service, micros, events in conn.execute(query)
    }


_SERVICE_TOTAL = select(func.coalesce(func.sum(usage_daily.c.quantity_micros), 0)).where(
    usage_daily.c.customer_id == bindparam("customer_id"),
    usage_daily.c.service_name == bindparam("service"),
    usage_daily.c.day >= bindparam("first_day"),
    usage_daily.c.day < bindparam("end_day"),
)


def service_total_micros(
    conn: Connection, customer_id: str, service: str, first_day: date, end_day: date
) -> int:
    """One service's usage (micro-units) over whole UTC days [first_day, end_day), read from
    the rollups' primary key (customer, service, day): an index range, never raw events."""
    return int(
        conn.execute(
            _SERVICE_TOTAL,
            {
                "customer_id": customer_id,
                "service": service,
                "first_day": first_day,
                "end_day": end_day,
            },
        ).scalar_one()
    )


def recorded_micros(
    conn: Connection, customer_id: str, start: datetime, end: datetime
) -> dict[str, int]:
    """Micro-units per service of the raw events recorded in [start, end): exact instants,
    which the per-day rollups cannot give (Stripe's reconcile compares billing periods)."""
    return micros_by_service(conn, usage_records, customer_id, start, end)


def micros_by_service(
    conn: Connection,
    table: Table,
    customer_id: str,
    start: datetime,
    end: datetime,
    *where: ColumnElement[bool],
) -> dict[str, int]:
    """Micro-units per service of a table of events (``service_name``, ``quantity_micros``,
    ``customer_id``, ``recorded_at``: the raw events, the usage outbox) in [start, end)."""
    return {
        service: int(micros or 0)
        for service, micros in conn.execute(
            select(table.c.service_name, func.sum(table.c.quantity_micros))
            .where(
                table.c.customer_id == customer_id,
                table.c.recorded_at >= start,
                table.c.recorded_at < end,
                *where,
            )
            .group_by(table.c.service_name)
        )
    }


@dataclass(frozen=True)
class DailyTotal:
    day: date
    service: str
    quantity: Decimal
    events: int


def daily_totals(
    conn: Connection,
    customer_id: str,
    first_day: date,
    end_day: date,
    services: Iterable[str] | None = None,
) -> list[DailyTotal]:
    """Per-day, per-service usage over ``first_day`` <= day < ``end_day`` (from the rollups)."""
    query = (
        select(
            usage_daily.c.day,
            usage_daily.c.service_name,
            usage_daily.c.quantity_micros,
            usage_daily.c.events,
        )
        .where(
            usage_daily.c.customer_id == customer_id,
            usage_daily.c.day >= first_day,
            usage_daily.c.day < end_day,
        )
        .order_by(usage_daily.c.day, usage_daily.c.service_name)
    )
    if services is not None:
        query = query.where(usage_daily.c.service_name.in_(list(services)))
    return [
        DailyTotal(day, service, from_micros(int(micros)), int(events))
        for day, service, micros, events in conn.execute(query)
    ]
