"""What the outbox holds: counts by state, the pending depth (metrics), one customer's
pending rows, and the usage not yet acknowledged by Stripe in a period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, func, select

from ..tables import usage_outbox
from ..usage import micros_by_service
from .rows import EXPIRED, FAILED, MAX_EVENT_AGE, PENDING, SENT, UNKNOWN


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
    return micros_by_service(
        conn, usage_outbox, customer_id, start, end, usage_outbox.c.status != SENT
    )
