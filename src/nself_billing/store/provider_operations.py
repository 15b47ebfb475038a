"""The journal of provider writes: the idempotency key of each operation, reused by a re-run
while its outcome is unknown (``services/stripe/billing.StripeBillingService._operation``)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert, select, update

from .tables import provider_operations

#: Stripe keeps idempotency keys for 24 hours: an older unfinished operation gets a new key
OPERATION_KEY_LIFETIME = timedelta(hours=23)


def open_operation(conn: Connection, operation: str, target: str, *, now: datetime) -> str:
    """The idempotency key of ``operation`` on ``target``: the one of an unfinished earlier
    attempt (a crash or a network failure left its outcome unknown), else a new one."""
    row = conn.execute(
        select(provider_operations.c.op_key).where(
            provider_operations.c.operation == operation,
            provider_operations.c.target == target,
            provider_operations.c.completed_at.is_(None),
            provider_operations.c.created_at > now - OPERATION_KEY_LIFETIME,
        )
    ).first()
    if row is not None:
        return str(row[0])
    key = f"nself:{operation}:{target}:{uuid.uuid4().hex}"[:255]
    conn.execute(
        insert(provider_operations).values(
            op_key=key, operation=operation, target=target, created_at=now
        )
    )
    return key


def close_operation(conn: Connection, op_key: str, *, now: datetime) -> None:
    conn.execute(
        update(provider_operations)
        .where(provider_operations.c.op_key == op_key)
        .values(completed_at=now)
    )
