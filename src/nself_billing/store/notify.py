"""Notification endpoints and the notification outbox (outgoing webhooks and email).

Rows are written in the transaction of the state change that causes them (``enqueue``), so a
change that commits is also queued and one that rolls back is not. Senders lease the head of
each target's queue (``claim_heads``) and deliver in id order; a row is marked sent only after
its target acknowledged it, so a crash repeats a delivery (with the same event id) and loses
none.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from .dialect import upsert_insert
from .tables import cycle_runs, notify_endpoints, notify_outbox

PENDING, SENT, FAILED = "pending", "sent", "failed"
ENABLED, DISABLED = "enabled", "disabled"
WEBHOOK, EMAIL = "webhook", "email"
TEST_EVENT = "notification.test"


@dataclass(frozen=True)
class Endpoint:
    endpoint_id: str
    url: str
    events: tuple[str, ...]
    description: str | None
    status: str
    disabled_reason: str | None
    created_at: datetime | None
    secret: str

    def wants(self, event_type: str) -> bool:
        # a test event reaches every endpoint (notify test checks the endpoints)
        return "*" in self.events or event_type in self.events or event_type == TEST_EVENT

    def __repr__(self) -> str:  # the secret never shows
        return f"Endpoint({self.endpoint_id!r}, {self.url!r}, status={self.status!r})"


@dataclass(frozen=True)
class Delivery:
    id: int
    event_id: str
    event_type: str
    customer_id: str | None
    channel: str
    target: str
    payload: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    last_status: int | None
    sent_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class NewDelivery:
    event_id: str
    event_type: str
    customer_id: str | None
    channel: str
    target: str
    payload: str


def _endpoint(row: object) -> Endpoint:
    m = row._mapping  # type: ignore[attr-defined]
    return Endpoint(
        endpoint_id=m["endpoint_id"],
        url=m["url"],
        events=tuple(e for e in m["events"].split(",") if e),
        description=m["description"],
        status=m["status"],
        disabled_reason=m["disabled_reason"],
        created_at=m["created_at"],
        secret=m["secret"],
    )


def _delivery(row: object) -> Delivery:
    m = row._mapping  # type: ignore[attr-defined]
    return Delivery(
        **{
            name: m[name]
            for name in (
                "id",
                "event_id",
                "event_type",
                "customer_id",
                "channel",
                "target",
                "payload",
                "status",
                "attempts",
                "next_attempt_at",
                "last_error",
                "last_status",
                "sent_at",
                "created_at",
            )
        }
    )


# --- endpoints ---------------------------------------------------------------------------


def add_endpoint(
    conn: Connection,
    *,
    endpoint_id: str,
    url: str,
    secret: str,
    events: Sequence[str],
    description: str | None,
    now: datetime,
) -> None:
    conn.execute(
        insert(notify_endpoints).values(
            endpoint_id=endpoint_id,
            url=url,
            secret=secret,
            events=",".join(events),
            description=description,
            status=ENABLED,
            created_at=now,
            updated_at=now,
        )
    )


def endpoints(conn: Connection, *, enabled_only: bool = False) -> list[Endpoint]:
    query = select(notify_endpoints).order_by(
        notify_endpoints.c.created_at, notify_endpoints.c.endpoint_id
    )
    if enabled_only:
        query = query.where(notify_endpoints.c.status == ENABLED)
    return [_endpoint(row) for row in conn.execute(query)]


def endpoint(conn: Connection, endpoint_id: str) -> Endpoint | None:
    row = conn.execute(
        select(notify_endpoints).where(notify_endpoints.c.endpoint_id == endpoint_id)
    ).first()
    return _endpoint(row) if row else None


def remove_endpoint(conn: Connection, endpoint_id: str) -> bool:
    conn.execute(
        update(notify_outbox)
        .where(notify_outbox.c.target == endpoint_id, notify_outbox.c.status == PENDING)
        .values(status=FAILED, last_error="endpoint removed", claimed_until=None)
    )
    done = conn.execute(
        delete(notify_endpoints).where(notify_endpoints.c.endpoint_id == endpoint_id)
    )
    return bool(done.rowcount)


def set_endpoint_status(
    conn: Connection, endpoint_id: str, status: str, *, reason: str | None, now: datetime
) -> bool:
    done = conn.execute(
        update(notify_endpoints)
        .where(notify_endpoints.c.endpoint_id == endpoint_id)
        .values(status=status, disabled_reason=reason, updated_at=now)
    )
    return bool(done.rowcount)


# --- the outbox ----------------------------------------------------------------------------


def enqueue(conn: Connection, rows: Iterable[NewDelivery], *, now: datetime) -> int:
    """Queue deliveries; an (event, target) pair already queued is left as it is."""
    values = [
        {
            "event_id": r.event_id,
            "event_type": r.event_type,
            "customer_id": r.customer_id,
            "channel": r.channel,
            "target": r.target,
            "payload": r.payload,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for r in rows
    ]
    if not values:
        return 0
    statement = upsert_insert(conn)(notify_outbox).on_conflict_do_nothing(
        index_elements=["event_id", "target"]
    )
    done = conn.execute(statement, values)
    return int(done.rowcount or 0)


def claim_heads(
    conn: Connection, *, now: datetime, lease_until: datetime, per_target: int, limit: int
) -> list[Delivery]:
    """Lease, for each target whose oldest pending delivery is due and not leased, up to
    ``per_target`` of its pending deliveries in id order: a target receives its events in the
    order they happened, and one that fails holds its later events back instead of receiving
    them out of order."""
    heads = (
        select(notify_outbox.c.target, func.min(notify_outbox.c.id).label("head"))
        .where(notify_outbox.c.status == PENDING)
        .group_by(notify_outbox.c.target)
        .subquery()
    )
    due = conn.execute(
        select(notify_outbox.c.target)
        .join(heads, notify_outbox.c.id == heads.c.head)
        .where(
            notify_outbox.c.next_attempt_at <= now,
            or_(notify_outbox.c.claimed_until.is_(None), notify_outbox.c.claimed_until < now),
        )
        .order_by(notify_outbox.c.id)
        .limit(limit)
    ).all()
    token = uuid.uuid4().hex
    for (target,) in due:
        ids = [
            row[0]
            for row in conn.execute(
                select(notify_outbox.c.id)
                .where(notify_outbox.c.target == target, notify_outbox.c.status == PENDING)
                .order_by(notify_outbox.c.id)
                .limit(per_target)
            )
        ]
        conn.execute(
            update(notify_outbox)
            .where(
                notify_outbox.c.id.in_(ids),
                notify_outbox.c.status == PENDING,
                or_(notify_outbox.c.claimed_until.is_(None), notify_outbox.c.claimed_until < now),
            )
            .values(claimed_until=lease_until, claim_token=token)
        )
    rows = conn.execute(
        select(notify_outbox)
        .where(notify_outbox.c.claim_token == token, notify_outbox.c.status == PENDING)
        .order_by(notify_outbox.c.id)
    )
    return [_delivery(row) for row in rows]


def mark_sent(conn: Connection, delivery_id: int, *, status: int | None, now: datetime) -> None:
    conn.execute(
        update(notify_outbox)
        .where(notify_outbox.c.id == delivery_id)
        .values(
            status=SENT,
            sent_at=now,
            attempts=notify_outbox.c.attempts + 1,
            last_status=status,
            last_error=None,
            claimed_until=None,
        )
    )


def mark_retry(
    conn: Connection,
    delivery_id: int,
    *,
    error: str,
    status: int | None,
    next_attempt_at: datetime,
) -> None:
    conn.execute(
        update(notify_outbox)
        .where(notify_outbox.c.id == delivery_id)
        .values(
            attempts=notify_outbox.c.attempts + 1,
            last_error=error[:500],
            last_status=status,
            next_attempt_at=next_attempt_at,
            claimed_until=None,
        )
    )


def release(conn: Connection, delivery_ids: Sequence[int]) -> None:
    """Give back leased deliveries that were not attempted."""
    if delivery_ids:
        conn.execute(
            update(notify_outbox)
            .where(notify_outbox.c.id.in_(delivery_ids), notify_outbox.c.status == PENDING)
            .values(claimed_until=None)
        )


def fail_target(conn: Connection, target: str, *, error: str) -> int:
    """Every pending delivery of a target fails (its endpoint was disabled)."""
    done = conn.execute(
        update(notify_outbox)
        .where(notify_outbox.c.target == target, notify_outbox.c.status == PENDING)
        .values(status=FAILED, last_error=error[:500], claimed_until=None)
    )
    return int(done.rowcount or 0)


def fail_one(conn: Connection, delivery_id: int, *, error: str, status: int | None) -> None:
    conn.execute(
        update(notify_outbox)
        .where(notify_outbox.c.id == delivery_id)
        .values(
            status=FAILED,
            attempts=notify_outbox.c.attempts + 1,
            last_error=error[:500],
            last_status=status,
            claimed_until=None,
        )
    )


def requeue(conn: Connection, delivery_id: int, *, now: datetime) -> bool:
    done = conn.execute(
        update(notify_outbox)
        .where(notify_outbox.c.id == delivery_id, notify_outbox.c.status != PENDING)
        .values(status=PENDING, next_attempt_at=now, created_at=now, claimed_until=None)
    )
    return bool(done.rowcount)


def get(conn: Connection, delivery_id: int) -> Delivery | None:
    row = conn.execute(select(notify_outbox).where(notify_outbox.c.id == delivery_id)).first()
    return _delivery(row) if row else None


def deliveries(
    conn: Connection, *, status: str | None = None, event_id: str | None = None, limit: int = 50
) -> list[Delivery]:
    query = select(notify_outbox).order_by(notify_outbox.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(notify_outbox.c.status == status)
    if event_id is not None:
        query = query.where(notify_outbox.c.event_id == event_id)
    return [_delivery(row) for row in conn.execute(query)]


def pending_depth(conn: Connection) -> tuple[int, datetime | None]:
    """Pending deliveries and the creation time of the oldest one."""
    row = conn.execute(
        select(func.count(), func.min(notify_outbox.c.created_at)).where(
            notify_outbox.c.status == PENDING
        )
    ).one()
    return int(row[0]), row[1]


# --- cycle runs (for the metrics) ------------------------------------------------------------


def record_cycle_run(
    conn: Connection, *, now: datetime, closed: int, invoices: int, total: object, failures: int
) -> None:
    conn.execute(
        insert(cycle_runs).values(
            ran_at=now, closed=closed, invoices=invoices, total=total, failures=failures
        )
    )


def cycle_run_stats(conn: Connection) -> tuple[int, datetime | None]:
    row = conn.execute(select(func.count(), func.max(cycle_runs.c.ran_at))).one()
    return int(row[0]), row[1]
