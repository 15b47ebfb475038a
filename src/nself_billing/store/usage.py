"""Queries for usage: raw events (billing_usage_records) and per-day rollups
(billing_usage_daily), kept in the same transaction so reads never scan raw events."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from ..domain.money import from_micros
from .tables import usage_daily, usage_records


@dataclass(frozen=True)
class NewUsage:
    customer_id: str
    service: str
    quantity: Decimal
    quantity_micros: int
    metadata: dict[str, Any]
    recorded_at: datetime
    idempotency_key: str


def _insert(conn: Connection) -> Any:
    """The dialect's INSERT with ON CONFLICT (imported late: see types.JsonDoc)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def insert_event(conn: Connection, event: NewUsage, *, now: datetime) -> bool:
    """Insert one event and its rollup; False (and nothing written) if the key was seen."""
    inserted = conn.execute(
        _insert(conn)(usage_records)
        .values(customer_id=event.customer_id, service_name=event.service,
                quantity=event.quantity, quantity_micros=event.quantity_micros,
                metadata=event.metadata, recorded_at=event.recorded_at,
                idempotency_key=event.idempotency_key, ingested_at=now)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(usage_records.c.id)
    ).first()
    if inserted is None:
        return False
    add_to_rollup(conn, event.customer_id, event.service, event.recorded_at.date(),
                  event.quantity_micros, 1)
    return True


def add_to_rollup(conn: Connection, customer_id: str, service: str, day: date, micros: int,
                  events: int) -> None:
    statement = _insert(conn)(usage_daily).values(
        customer_id=customer_id, service_name=service, day=day, quantity_micros=micros,
        events=events)
    conn.execute(statement.on_conflict_do_update(
        index_elements=["customer_id", "service_name", "day"],
        set_={"quantity_micros": usage_daily.c.quantity_micros + statement.excluded.quantity_micros,
              "events": usage_daily.c.events + statement.excluded.events},
    ))


@dataclass(frozen=True)
class UsageTotal:
    service: str
    quantity: Decimal
    events: int


def period_totals(conn: Connection, customer_id: str, first_day: date, end_day: date,
                  services: Iterable[str] | None = None) -> dict[str, UsageTotal]:
    """Usage per service over whole UTC days ``first_day`` <= day < ``end_day``, from the
    rollups (never the raw events)."""
    query = (
        select(usage_daily.c.service_name, func.sum(usage_daily.c.quantity_micros),
               func.sum(usage_daily.c.events))
        .where(usage_daily.c.customer_id == customer_id, usage_daily.c.day >= first_day,
               usage_daily.c.day < end_day)
        .group_by(usage_daily.c.service_name)
    )
    if services is not None:
        query = query.where(usage_daily.c.service_name.in_(list(services)))
    return {
        service: UsageTotal(service, from_micros(int(micros or 0)), int(events or 0))
        for service, micros, events in conn.execute(query)
    }
