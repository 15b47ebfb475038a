"""Delivering the outbox: drainers lease due rows (``claim``), and mark them sent, for a
later attempt, failed, expired or of unknown outcome, release a lease, or queue rows again."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, or_, select, update

from ..tables import usage_outbox
from .rows import EXPIRED, FAILED, PENDING, SENT, UNKNOWN, OutboxRow


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
