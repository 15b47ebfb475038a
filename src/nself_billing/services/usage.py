"""Usage use cases: record events exactly once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..domain.usage import (
    check_service,
    check_timestamp,
    micros_of,
    parse_metadata,
    parse_quantity,
)
from ..errors import NotFound
from ..store import customers as customer_store
from ..store import usage as store
from .context import Context


@dataclass(frozen=True)
class RecordResult:
    idempotency_key: str
    #: False when an event with the same idempotency key was already recorded
    recorded: bool


class UsageService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def record(self, service: str, quantity: object, metadata: object = None, *,
               customer_id: str | None = None, idempotency_key: str | None = None,
               at: datetime | None = None) -> RecordResult:
        """Record one usage event; the same idempotency key counts once."""
        event = self._validate(service, quantity, metadata, customer_id=customer_id,
                               idempotency_key=idempotency_key, at=at)
        with self._ctx.db.write() as conn:
            if not customer_store.exists(conn, event.customer_id):
                raise NotFound(f"Customer not found: {event.customer_id}")
            recorded = store.insert_event(conn, event, now=self._ctx.clock())
        return RecordResult(event.idempotency_key, recorded)

    def _validate(self, service: str, quantity: object, metadata: object, *,
                  customer_id: str | None, idempotency_key: str | None,
                  at: datetime | None) -> store.NewUsage:
        check_service(service)
        amount = parse_quantity(quantity)
        meta: dict[str, Any] = parse_metadata(metadata)
        when = check_timestamp(at).astimezone(UTC) if at is not None else self._ctx.clock()
        return store.NewUsage(
            customer_id=customer_id or self._ctx_customer(),
            service=service,
            quantity=amount,
            quantity_micros=micros_of(amount),
            metadata=meta,
            recorded_at=when,
            idempotency_key=idempotency_key or uuid.uuid4().hex,
        )

    def _ctx_customer(self) -> str:
        from .customers import CustomerService

        return CustomerService(self._ctx).current_id()
