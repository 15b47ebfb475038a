"""Putting usage events into the outbox, in the transaction that records them: the SQL the
raw-driver write paths of ``store/events.py`` append to their statements, and the SQLAlchemy
Core enqueue of given events, of stored usage rows, and of rows recorded without it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, func, select

from ..dialect import upsert_insert
from ..tables import usage_outbox, usage_records
from .rows import PENDING, OutboxUsage, outbox_identifier

# --- the metering hook on the raw-driver paths of store/events.py ------------------------------
# The usage writers talk to the driver directly (one statement per event on PostgreSQL, prepared
# statements on SQLite); these let them queue the new events in the same transaction.

#: PostgreSQL: the same identifier as ``outbox_identifier``, computed in SQL (PostgreSQL 11+)
PG_IDENTIFIER = (
    "'nself_' || left(encode(sha256(convert_to({customer} || chr(31) || {key}, 'UTF8')),"
    " 'hex'), 40)"
)
#: PostgreSQL: a CTE to append to a statement whose CTE ``e`` inserted usage rows and
#: RETURNING id, customer_id, service_name, recorded_at, quantity_micros, idempotency_key
PG_OUTBOX_CTE = (
    ", o AS (INSERT INTO billing_usage_outbox (usage_record_id, identifier, customer_id,"
    " service_name, quantity_micros, recorded_at, status, attempts)"
    " SELECT id, 'nself_' || left(encode(sha256(convert_to(customer_id || chr(31) ||"
    " idempotency_key, 'UTF8')), 'hex'), 40), customer_id, service_name, quantity_micros,"
    " recorded_at, 'pending', 0 FROM e ON CONFLICT (identifier) DO NOTHING)"
)
#: SQLite (qmark) insert of one outbox row; parameters from ``sqlite_outbox_params``
SQLITE_OUTBOX_INSERT = (
    "INSERT INTO billing_usage_outbox (usage_record_id, identifier, customer_id, service_name,"
    " quantity_micros, recorded_at, status, attempts) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0)"
    " ON CONFLICT (identifier) DO NOTHING"
)

#: SQLite (qmark): queue the stored usage row of this identity (its id and columns copied as
#: stored); parameters ``(identifier, idempotency_key, customer_id)``
SQLITE_OUTBOX_FROM_RECORD = (
    "INSERT INTO billing_usage_outbox (usage_record_id, identifier, customer_id, service_name,"
    " quantity_micros, recorded_at, status, attempts) SELECT id, ?, customer_id, service_name,"
    " quantity_micros, recorded_at, 'pending', 0 FROM billing_usage_records"
    " WHERE idempotency_key = ? AND customer_id = ? ON CONFLICT (identifier) DO NOTHING"
)


def sqlite_outbox_params(
    customer_id: str,
    service: str,
    quantity_micros: int,
    recorded_at: datetime,
    idempotency_key: str,
    usage_record_id: int | None = None,
) -> tuple[object, ...]:
    """Parameters of ``SQLITE_OUTBOX_INSERT`` (times as the naive UTC text SQLAlchemy writes)."""
    moment = recorded_at.astimezone(UTC).isoformat(" ", "microseconds")[:26]
    return (
        usage_record_id,
        outbox_identifier(customer_id, idempotency_key),
        customer_id,
        service,
        quantity_micros,
        moment,
    )


def enqueue_records(conn: Connection, records: Iterable[OutboxUsage]) -> int:
    """Queue events (returns how many were given); an event queued before (same identifier)
    keeps its state."""
    rows = [
        {
            "usage_record_id": r.usage_record_id,
            "identifier": outbox_identifier(r.customer_id, r.idempotency_key),
            "customer_id": r.customer_id,
            "service_name": r.service,
            "quantity_micros": r.quantity_micros,
            "recorded_at": r.recorded_at,
            "status": PENDING,
            "attempts": 0,
        }
        for r in records
    ]
    if not rows:
        return 0
    insert = upsert_insert(conn)(usage_outbox)
    # an event queued before keeps its state; it only learns its usage row id if it lacked it
    statement = insert.on_conflict_do_update(
        index_elements=["identifier"],
        set_={
            "usage_record_id": func.coalesce(
                usage_outbox.c.usage_record_id, insert.excluded.usage_record_id
            )
        },
    )
    conn.execute(statement, rows)
    return len(rows)


def enqueue_usage(conn: Connection, usage_record_ids: Sequence[int]) -> int:
    """The metering hook: queue the given ``billing_usage_records`` rows, inside the caller's
    transaction (call it right after the insert, only when the Stripe provider is configured)."""
    if not usage_record_ids:
        return 0
    found = conn.execute(
        select(
            usage_records.c.id,
            usage_records.c.customer_id,
            usage_records.c.service_name,
            usage_records.c.quantity_micros,
            usage_records.c.recorded_at,
            usage_records.c.idempotency_key,
        ).where(usage_records.c.id.in_(list(usage_record_ids)))
    ).all()
    return enqueue_records(
        conn,
        (
            OutboxUsage(
                customer_id=row.customer_id,
                service=row.service_name,
                quantity_micros=int(row.quantity_micros or 0),
                recorded_at=row.recorded_at,
                idempotency_key=row.idempotency_key or f"usage-{row.id}",
                usage_record_id=row.id,
            )
            for row in found
        ),
    )


def enqueue_unqueued(conn: Connection, *, limit: int = 10_000) -> int:
    """Queue up to ``limit`` usage events that have no outbox row (inserted with SQL, or
    recorded before the Stripe provider was configured); returns how many were queued."""
    queued = select(usage_outbox.c.id).where(usage_outbox.c.usage_record_id == usage_records.c.id)
    found = (
        conn.execute(
            select(usage_records.c.id)
            .where(~queued.exists())
            .order_by(usage_records.c.id)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    if found:
        enqueue_usage(conn, list(found))
    return len(found)
