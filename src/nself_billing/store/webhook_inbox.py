"""Queries for received provider webhook events (billing_webhook_events), one row per event id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from .tables import webhook_events
from .usage import _insert


@dataclass(frozen=True)
class StoredEvent:
    event_id: str
    type: str
    status: str
    created: datetime | None
    received_at: datetime | None
    processed_at: datetime | None
    error: str | None


_COLUMNS = (webhook_events.c.event_id, webhook_events.c.type, webhook_events.c.status,
            webhook_events.c.created, webhook_events.c.received_at,
            webhook_events.c.processed_at, webhook_events.c.error)


def insert_once(conn: Connection, *, event_id: str, type: str, api_version: str | None,
                created: datetime | None, payload: str, now: datetime) -> bool:
    """Store the event unless its id is already stored; True if this call stored it."""
    inserted = conn.execute(
        _insert(conn)(webhook_events)
        .values(event_id=event_id, type=type, api_version=api_version, created=created,
                payload=payload, received_at=now, status="received")
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(webhook_events.c.event_id)
    ).first()
    return inserted is not None


def get(conn: Connection, event_id: str) -> StoredEvent | None:
    row = conn.execute(select(*_COLUMNS).where(webhook_events.c.event_id == event_id)).first()
    return StoredEvent(*row) if row else None


def recent(conn: Connection, limit: int) -> list[StoredEvent]:
    query = (select(*_COLUMNS)
             .order_by(webhook_events.c.received_at.desc(), webhook_events.c.event_id.desc())
             .limit(limit))
    return [StoredEvent(*row) for row in conn.execute(query)]


def mark(conn: Connection, event_id: str, *, status: str, now: datetime,
         error: str | None = None) -> None:
    conn.execute(update(webhook_events).where(webhook_events.c.event_id == event_id)
                 .values(status=status, processed_at=now, error=error))
