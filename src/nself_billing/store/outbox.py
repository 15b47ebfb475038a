"""The usage outbox: usage events waiting to reach Stripe's Billing Meters.

A row is written in the same transaction as the usage event (``enqueue_usage``), so an event
that is recorded is also queued, and recording never waits on Stripe. Drainers lease rows
(``claim``), send them, and mark them sent only once Stripe acknowledged. The identifier is
derived from the event's own idempotency key: every retry of the same event carries the same
identifier, and Stripe counts an identifier once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from .tables import usage_outbox, usage_records

PENDING, SENT, FAILED, EXPIRED = "pending", "sent", "failed", "expired"
#: first sent over 24 h ago without an answer: a resend might be counted twice (see reconcile)
UNKNOWN = "unknown"
#: how long Stripe deduplicates a meter event identifier
IDENTIFIER_WINDOW = timedelta(hours=24)
#: Stripe accepts meter events up to 35 days old
MAX_EVENT_AGE = timedelta(days=35)


def outbox_identifier(customer_id: str, idempotency_key: str) -> str:
    """Stable, at most 64 characters, and free of anything secret in the key."""
    digest = hashlib.sha256(f"{customer_id}\x1f{idempotency_key}".encode()).hexdigest()
    return f"nself_{digest[:40]}"


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


@dataclass(frozen=True)
class OutboxUsage:
    """One usage event to queue (what ``enqueue_records`` takes when the caller has it)."""

    customer_id: str
    service: str
    quantity_micros: int
    recorded_at: datetime
    idempotency_key: str
    usage_record_id: int | None = None


@dataclass(frozen=True)
class OutboxRow:
    id: int
    identifier: str
    customer_id: str
    service: str
    quantity_micros: int
    recorded_at: datetime
    attempts: int
    first_attempt_at: datetime | None = None


def _insert(conn: Connection):  # type: ignore[no-untyped-def]
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        return insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


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
    insert = _insert(conn)(usage_outbox)
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


def claim(
    conn: Connection,
    *,
    now: datetime,
    limit: int,
    lease: timedelta,
    token: str,
    customer_id: str | None = None,
) -> list[OutboxRow]:
    """Lease up to ``limit`` due pending rows to ``token`` in one statement; rows leased by
    another drainer whose lease has not run out are skipped (and on PostgreSQL, rows another
    drainer is leasing right now: SKIP LOCKED)."""
    free = or_(usage_outbox.c.claimed_until.is_(None), usage_outbox.c.claimed_until < now)
    due = or_(usage_outbox.c.next_attempt_at.is_(None), usage_outbox.c.next_attempt_at <= now)
    if customer_id is None:
        candidates = select(usage_outbox.c.id).where(usage_outbox.c.status == PENDING, due, free)
    else:
        # one customer's events before its immediate cancel: all of them, even those waiting
        # for their next attempt
        candidates = select(usage_outbox.c.id).where(
            usage_outbox.c.status == PENDING, free, usage_outbox.c.customer_id == customer_id
        )
    candidates = candidates.order_by(usage_outbox.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    rows = conn.execute(
        update(usage_outbox)
        .where(usage_outbox.c.id.in_(candidates.scalar_subquery()))
        .values(claim_token=token, claimed_until=now + lease)
        .returning(
            usage_outbox.c.id,
            usage_outbox.c.identifier,
            usage_outbox.c.customer_id,
            usage_outbox.c.service_name,
            usage_outbox.c.quantity_micros,
            usage_outbox.c.recorded_at,
            usage_outbox.c.attempts,
            usage_outbox.c.first_attempt_at,
        )
    ).all()
    return sorted(
        (
            OutboxRow(
                r.id,
                r.identifier,
                r.customer_id,
                r.service_name,
                int(r.quantity_micros),
                r.recorded_at,
                int(r.attempts),
                r.first_attempt_at,
            )
            for r in rows
        ),
        key=lambda row: row.id,
    )


def _finish(conn: Connection, ids: Sequence[int], **values: object) -> int:
    if not ids:
        return 0
    return int(
        conn.execute(
            update(usage_outbox)
            .where(usage_outbox.c.id.in_(list(ids)))
            .values(claim_token=None, claimed_until=None, **values)
        ).rowcount
        or 0
    )


def mark_sent(conn: Connection, ids: Sequence[int], *, now: datetime) -> int:
    """Mark acknowledged rows sent. On PostgreSQL the commit does not wait for the disk: if
    the mark is lost in a crash, the rows are sent again with the same identifiers, which
    Stripe counts once, so durability buys nothing here and costs a flush per batch."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
    return _finish(
        conn, ids, status=SENT, sent_at=now, last_error=None, attempts=usage_outbox.c.attempts + 1
    )


def mark_retry(
    conn: Connection,
    ids: Sequence[int],
    *,
    error: str,
    next_attempt_at: datetime,
    now: datetime | None = None,
    outcome_unknown: bool = True,
) -> int:
    """Leave the rows pending for a later attempt. ``outcome_unknown`` (Stripe may have
    counted them: a network failure, a 5xx) opens their 24-hour resend window at ``now``."""
    values: dict[str, Any] = {}
    if outcome_unknown and now is not None:
        values["first_attempt_at"] = func.coalesce(usage_outbox.c.first_attempt_at, now)
    return _finish(
        conn,
        ids,
        last_error=error[:1000],
        next_attempt_at=next_attempt_at,
        attempts=usage_outbox.c.attempts + 1,
        **values,
    )


def pending_depth(conn: Connection) -> tuple[int, datetime | None]:
    """Pending usage deliveries and the creation time of the oldest one (the metrics)."""
    row = conn.execute(
        select(func.count(), func.min(usage_outbox.c.created_at)).where(
            usage_outbox.c.status == PENDING
        )
    ).one()
    return int(row[0]), row[1]


def pending_for(conn: Connection, customer_id: str) -> int:
    return int(
        conn.execute(
            select(func.count()).where(
                usage_outbox.c.customer_id == customer_id, usage_outbox.c.status == PENDING
            )
        ).scalar_one()
    )


def mark_unknown(conn: Connection, ids: Sequence[int], *, reason: str) -> int:
    return _finish(conn, ids, status=UNKNOWN, last_error=reason)


def mark_failed(conn: Connection, ids: Sequence[int], *, error: str) -> int:
    return _finish(
        conn, ids, status=FAILED, last_error=error[:1000], attempts=usage_outbox.c.attempts + 1
    )


def mark_expired(conn: Connection, ids: Sequence[int], *, reason: str) -> int:
    return _finish(conn, ids, status=EXPIRED, last_error=reason)


def release(conn: Connection, token: str) -> None:
    conn.execute(
        update(usage_outbox)
        .where(usage_outbox.c.claim_token == token)
        .values(claim_token=None, claimed_until=None)
    )


def requeue(conn: Connection, *, statuses: Sequence[str] = (FAILED,)) -> int:
    """Put failed (or unknown) rows back in the queue (after the cause was fixed, or once
    ``reconcile`` showed Stripe does not have them); their resend window starts again."""
    return int(
        conn.execute(
            update(usage_outbox)
            .where(usage_outbox.c.status.in_(list(statuses)))
            .values(
                status=PENDING,
                next_attempt_at=None,
                claim_token=None,
                claimed_until=None,
                first_attempt_at=None,
            )
        ).rowcount
        or 0
    )


@dataclass(frozen=True)
class OutboxCounts:
    pending: int
    sent: int
    failed: int
    expired: int
    #: pending rows already older than Stripe accepts (they will be reported as expired)
    pending_too_old: int
    oldest_pending: datetime | None
    last_error: str | None
    #: first sent over 24 h ago without an answer: not resent (compare with reconcile)
    unknown: int = 0


def counts(conn: Connection, *, now: datetime) -> OutboxCounts:
    by_status: dict[str, int] = dict(
        conn.execute(
            select(usage_outbox.c.status, func.count()).group_by(usage_outbox.c.status)
        ).all()
    )
    pending_filter = usage_outbox.c.status == PENDING
    too_old, oldest = conn.execute(
        select(
            func.count().filter(usage_outbox.c.recorded_at < now - MAX_EVENT_AGE),
            func.min(usage_outbox.c.recorded_at),
        ).where(pending_filter)
    ).one()
    last_error = conn.execute(
        select(usage_outbox.c.last_error)
        .where(
            usage_outbox.c.last_error.is_not(None),
            and_(usage_outbox.c.status.in_([PENDING, FAILED])),
        )
        .order_by(usage_outbox.c.id.desc())
        .limit(1)
    ).scalar()
    return OutboxCounts(
        pending=int(by_status.get(PENDING, 0)),
        sent=int(by_status.get(SENT, 0)),
        failed=int(by_status.get(FAILED, 0)),
        expired=int(by_status.get(EXPIRED, 0)),
        unknown=int(by_status.get(UNKNOWN, 0)),
        pending_too_old=int(too_old or 0),
        oldest_pending=oldest,
        last_error=last_error,
    )


def unsent_totals(
    conn: Connection, customer_id: str, start: datetime, end: datetime
) -> dict[str, int]:
    """Micro-units per service not (yet) acknowledged by Stripe in [start, end)."""
    return {
        service: int(micros or 0)
        for service, micros in conn.execute(
            select(usage_outbox.c.service_name, func.sum(usage_outbox.c.quantity_micros))
            .where(
                usage_outbox.c.customer_id == customer_id,
                usage_outbox.c.status != SENT,
                usage_outbox.c.recorded_at >= start,
                usage_outbox.c.recorded_at < end,
            )
            .group_by(usage_outbox.c.service_name)
        )
    }
