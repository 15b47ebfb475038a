"""Received webhook events (stored once, with the outcome of applying them) and each provider
object's ordering state (the newest event applied to it, or the last time it was read from
the provider), so an older event never rolls a newer state back. One statement per function,
in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from .prepared import Prepared, insert_for
from .tables import stripe_object_state, webhook_events


def _statements(dialect: str) -> dict[str, Any]:
    insert_ = insert_for(dialect)
    event = insert_(webhook_events).on_conflict_do_nothing(index_elements=["event_id"])
    state = insert_(stripe_object_state)
    return {
        "store_event": event.returning(webhook_events.c.event_id),
        "advance_object": state.on_conflict_do_update(
            index_elements=["object_id"],
            set_={
                "last_event_created": state.excluded.last_event_created,
                "last_event_id": state.excluded.last_event_id,
            },
            where=stripe_object_state.c.last_event_created <= state.excluded.last_event_created,
        ).returning(stripe_object_state.c.object_id),
    }


_PREPARED = Prepared(_statements)


def store_event(
    conn: Connection,
    *,
    event_id: str,
    type_: str,
    api_version: str | None,
    created: datetime | None,
    payload: str,
    now: datetime,
    status: str,
    error: str | None = None,
) -> bool:
    """Record a received event with the outcome of applying it (in the same transaction);
    False, and nothing written, when it was received before (a duplicate delivery)."""
    inserted = _PREPARED.run(
        conn,
        "store_event",
        {
            "event_id": event_id,
            "type": type_,
            "api_version": api_version,
            "created": created,
            "payload": payload,
            "received_at": now,
            "processed_at": now,
            "status": status,
            "error": error,
        },
    )
    return inserted is not None


def stamp_object(conn: Connection, *, object_id: str, object_type: str, at: datetime) -> None:
    """Record that the object was read from the provider at ``at``: an event made before that
    read describes an older state, and is stale when it arrives later."""
    advance_object(
        conn, object_id=object_id, object_type=object_type, created=at, event_id="api-read"
    )


def advance_object(
    conn: Connection, *, object_id: str, object_type: str, created: datetime, event_id: str
) -> bool:
    """Move an object's last-applied event time forward; False (nothing changed) when a newer
    event was already applied. One conditional upsert, so concurrent deliveries cannot both
    win against each other."""
    applied = _PREPARED.run(
        conn,
        "advance_object",
        {
            "object_id": object_id,
            "object_type": object_type,
            "last_event_created": created,
            "last_event_id": event_id,
        },
    )
    return applied is not None
