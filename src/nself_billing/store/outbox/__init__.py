"""The usage outbox: usage events waiting to reach Stripe's Billing Meters.

A row is written in the same transaction as the usage event (``enqueue_usage``), so an event
that is recorded is also queued, and recording never waits on Stripe. Drainers lease rows
(``claim``), send them, and mark them sent only once Stripe acknowledged. The identifier is
derived from the event's own idempotency key: every retry of the same event carries the same
identifier, and Stripe counts an identifier once.

One module a job: ``rows`` (states, windows, identifier, the values), ``enqueue`` (into the
outbox, in the recording transaction), ``delivery`` (lease and mark), ``report`` (counts and
totals). The package names them all, so ``store.outbox.<name>`` reads as before.
"""

from __future__ import annotations

from .delivery import (
    claim,
    mark_expired,
    mark_failed,
    mark_retry,
    mark_sent,
    mark_unknown,
    release,
    requeue,
)
from .enqueue import (
    PG_IDENTIFIER,
    PG_OUTBOX_CTE,
    SQLITE_OUTBOX_FROM_RECORD,
    SQLITE_OUTBOX_INSERT,
    enqueue_records,
    enqueue_unqueued,
    enqueue_usage,
    sqlite_outbox_params,
)
from .report import OutboxCounts, counts, pending_depth, pending_for, unsent_totals
from .rows import (
    EXPIRED,
    FAILED,
    IDENTIFIER_WINDOW,
    MAX_EVENT_AGE,
    PENDING,
    SENT,
    UNKNOWN,
    OutboxRow,
    OutboxUsage,
    outbox_identifier,
)

__all__ = [
    "EXPIRED",
    "FAILED",
    "IDENTIFIER_WINDOW",
    "MAX_EVENT_AGE",
    "PENDING",
    "PG_IDENTIFIER",
    "PG_OUTBOX_CTE",
    "SENT",
    "SQLITE_OUTBOX_FROM_RECORD",
    "SQLITE_OUTBOX_INSERT",
    "UNKNOWN",
    "OutboxCounts",
    "OutboxRow",
    "OutboxUsage",
    "claim",
    "counts",
    "enqueue_records",
    "enqueue_unqueued",
    "enqueue_usage",
    "mark_expired",
    "mark_failed",
    "mark_retry",
    "mark_sent",
    "mark_unknown",
    "outbox_identifier",
    "pending_depth",
    "pending_for",
    "release",
    "requeue",
    "sqlite_outbox_params",
    "unsent_totals",
]
