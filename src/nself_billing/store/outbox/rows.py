"""The usage outbox's vocabulary: a row's states, the windows that move it, the identifier
Stripe deduplicates on, and the values queued (``OutboxUsage``) and leased (``OutboxRow``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

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
