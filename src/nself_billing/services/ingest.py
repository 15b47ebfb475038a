"""Usage ingestion for the HTTP service: a batch of events validated all-or-nothing, then
recorded in one transaction.

An event's ``id`` is the client's idempotency key. It is namespaced by customer in the database
(``<customer_id>:<id>``) so that one tenant can never shadow (and so silently drop) another
tenant's events by sending the same id first.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..domain.customers import customer_id_problem
from ..domain.usage import check_service, micros_of, parse_metadata, parse_quantity
from ..errors import BillingError, InvalidInput
from ..store import customers as customer_store
from ..store import usage as store
from .context import Context

MAX_BATCH = 1000
MAX_ID_LENGTH = 128
EVENT_FIELDS = frozenset({"service", "quantity", "id", "timestamp", "metadata", "customer_id"})


class InvalidEvents(InvalidInput):
    """A batch with per-event problems; nothing of it was recorded."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"Invalid usage events: {len(errors)} error(s); nothing was recorded")
        self.errors = errors


@dataclass(frozen=True)
class EventOutcome:
    id: str
    #: "recorded", or "duplicate" when this id was already recorded for this customer
    status: str


@dataclass(frozen=True)
class IngestResult:
    recorded: int
    duplicates: int
    events: list[EventOutcome]


def namespaced_key(customer_id: str, event_id: str) -> str:
    return f"{customer_id}:{event_id}"


class _EventError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _parse_timestamp(value: object) -> datetime:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise _EventError("timestamp", "must be an ISO 8601 date-time with a time zone")
    try:
        if isinstance(value, str):
            when = datetime.fromisoformat(value)
        else:
            when = datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError, OSError):
        raise _EventError("timestamp", "must be an ISO 8601 date-time with a time zone"
                          ) from None
    if when.tzinfo is None:
        raise _EventError("timestamp", "a time zone is required (e.g. 2026-01-15T12:00:00Z)")
    return when.astimezone(UTC)


class UsageIngestService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def ingest(self, events: Sequence[object], *, caller_customer_id: str | None
               ) -> IngestResult:
        """Validate every event, then record them all in one transaction (or nothing).

        ``caller_customer_id`` is the customer of a tenant key (events may not name another
        customer), or None for an admin key (every event names its ``customer_id``)."""
        if not events:
            raise InvalidEvents([{"index": None, "field": "events", "message": "no events"}])
        if len(events) > MAX_BATCH:
            raise InvalidEvents([{"index": None, "field": "events",
                                  "message": f"at most {MAX_BATCH} events per request"}])
        now = self._ctx.clock()
        parsed: list[tuple[store.NewUsage, str]] = []
        errors: list[dict[str, Any]] = []
        seen: dict[str, int] = {}
        for index, raw in enumerate(events):
            try:
                event, client_id = self._parse(raw, caller_customer_id, now)
            except _EventError as problem:
                errors.append({"index": index, "field": problem.field,
                               "message": problem.message})
                continue
            parsed.append((event, client_id))
            seen.setdefault(event.customer_id, index)
        if errors:
            raise InvalidEvents(errors)
        with self._ctx.db.write() as conn:
            missing = [{"index": index, "field": "customer_id",
                        "message": f"customer not found: {customer}"}
                       for customer, index in seen.items()
                       if not customer_store.exists(conn, customer)]
            if missing:
                raise InvalidEvents(missing)
            outcomes = [EventOutcome(client_id, "recorded"
                                     if store.insert_event(conn, event, now=now)
                                     else "duplicate")
                        for event, client_id in parsed]
        recorded = sum(1 for outcome in outcomes if outcome.status == "recorded")
        return IngestResult(recorded, len(outcomes) - recorded, outcomes)

    @staticmethod
    def _parse(raw: object, caller_customer_id: str | None, now: datetime
               ) -> tuple[store.NewUsage, str]:
        if not isinstance(raw, Mapping):
            raise _EventError("event", "must be a JSON object")
        unknown = sorted(str(k) for k in raw if k not in EVENT_FIELDS)
        if unknown:
            raise _EventError(unknown[0], "unknown field")
        customer = raw.get("customer_id")
        if caller_customer_id is None:
            if not isinstance(customer, str) or not customer:
                raise _EventError("customer_id", "required with an admin key")
            if customer_id_problem(customer):
                raise _EventError("customer_id", "not a valid customer id")
        elif customer is not None and customer != caller_customer_id:
            raise _EventError("customer_id", "only an admin key may name another customer")
        else:
            customer = caller_customer_id
        service = raw.get("service")
        if not isinstance(service, str):
            raise _EventError("service", "required (a service name)")
        try:
            check_service(service)
        except BillingError as problem:
            raise _EventError("service", problem.message) from None
        if "quantity" not in raw:
            raise _EventError("quantity", "required")
        try:
            quantity = parse_quantity(raw["quantity"])
            micros = micros_of(quantity)
        except BillingError as problem:
            raise _EventError("quantity", problem.message) from None
        except ArithmeticError:
            raise _EventError("quantity", "Invalid quantity: out of range") from None
        try:
            metadata = parse_metadata(raw.get("metadata"))
        except BillingError as problem:
            raise _EventError("metadata", problem.message) from None
        if _has_nul(metadata):
            # PostgreSQL text and jsonb cannot hold NUL: refuse it on both backends alike
            raise _EventError("metadata", "must not contain NUL characters")
        event_id = raw.get("id")
        if event_id is None:
            event_id = uuid.uuid4().hex
        elif (not isinstance(event_id, str) or not event_id or len(event_id) > MAX_ID_LENGTH
              or "\x00" in event_id):
            raise _EventError("id", f"must be a string of 1 to {MAX_ID_LENGTH} characters "
                                    "(no NUL)")
        stamp = raw.get("timestamp")
        when = now if stamp is None else _parse_timestamp(stamp)
        return store.NewUsage(
            customer_id=customer, service=service, quantity=quantity, quantity_micros=micros,
            metadata=metadata, recorded_at=when,
            idempotency_key=namespaced_key(customer, event_id),
        ), event_id
