"""Usage ingestion for the HTTP service: a batch of events validated all-or-nothing, then
recorded in one transaction (with their rollups) by the metering batch path.

An event's ``id`` is the client's idempotency key, stored as given: the event is the pair
(customer, id) (``store/events.py``), so one tenant can never shadow (and so silently drop)
another tenant's events by sending the same id first, and an id sent over HTTP and through the
CLI or the library for the same customer is one event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..domain.customers import customer_id_problem
from ..domain.quantities import quantity_and_micros
from ..domain.services import SERVICE_NAMES, SERVICES
from ..domain.usage import check_idempotency_key, metadata_and_json
from ..errors import (
    BillingError,
    DatabaseError,
    InvalidEvents,
    NotFound,
    UnknownService,
)
from ..store import customers as customer_store
from ..store import events as store
from .context import Context
from .usage import PreparedBatch, UsageService, new_key

MAX_BATCH = 1000
MAX_ID_LENGTH = 128
#: years a usage timestamp may have (beyond them, day arithmetic overflows)
_EARLIEST, _LATEST = 1970, 9998
EVENT_FIELDS = frozenset({"service", "quantity", "id", "timestamp", "metadata", "customer_id"})


#: the most events a request may carry to take the single-event statement path, grouped with
#: concurrent requests (larger ones take the batch path: COPY on PostgreSQL)
SMALL_REQUEST_MAX = store.PG_STATEMENT_MAX


@dataclass(frozen=True)
class IngestResult:
    #: events in the request
    accepted: int
    #: events recorded now
    recorded: int
    #: events whose id was already recorded for their customer (or repeated in the request)
    duplicates: int


@dataclass(frozen=True)
class IngestRequest:
    """One request's events, for ``ingest_many``."""

    events: Sequence[object]
    #: the customer of a tenant key, or None for an admin key
    caller_customer_id: str | None


class _EventError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _parse_timestamp(value: object) -> datetime:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise _EventError("timestamp", "must be an ISO 8601 date-time with a time zone")
    try:
        if isinstance(value, str):
            when = datetime.fromisoformat(value)
        else:
            when = datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError, OSError):
        raise _EventError("timestamp", "must be an ISO 8601 date-time with a time zone") from None
    if when.tzinfo is None:
        raise _EventError("timestamp", "a time zone is required (e.g. 2026-01-15T12:00:00Z)")
    try:
        moment = when.astimezone(UTC)
    except OverflowError:
        raise _EventError("timestamp", "out of range") from None
    if not _EARLIEST <= moment.year <= _LATEST:
        raise _EventError("timestamp", f"out of range (years {_EARLIEST} to {_LATEST})")
    return moment


_Answers = list[IngestResult | Exception]


def _first_owners(
    requests: list[list[store.NewUsage]],
) -> tuple[dict[tuple[str, str], int], list[store.NewUsage]]:
    """Which request each identity is first seen in, and the group's distinct events (a
    group writes each identity once; a later request's copy is its duplicate)."""
    owner: dict[tuple[str, str], int] = {}
    fresh: list[store.NewUsage] = []
    for index, events in enumerate(requests):
        for event in events:
            if event.identity not in owner:
                owner[event.identity] = index
                fresh.append(event)
    return owner, fresh


def _group_answers(
    requests: list[list[store.NewUsage]],
    owner: dict[tuple[str, str], int],
    new: set[tuple[str, str]],
) -> _Answers:
    """Each request's result once the group was written (``new``: the identities stored)."""
    answers: _Answers = []
    for index, events in enumerate(requests):
        recorded = sum(
            1
            for identity in {event.identity for event in events}
            if owner[identity] == index and identity in new
        )
        answers.append(IngestResult(len(events), recorded, len(events) - recorded))
    return answers


def _merged(refused: list[Exception | None], written: _Answers) -> _Answers:
    """The answers in request order: a request's validation error, else its written answer
    (``written``: those of the valid requests, in order)."""
    results = iter(written)
    return [error if error is not None else next(results) for error in refused]


class UsageIngestService:
    """Validation here (every problem of every event, by field); writing through
    ``UsageService.write_batch``, the batch path of ``record_many``."""

    def __init__(self, ctx: Context, usage: UsageService) -> None:
        self._ctx = ctx
        self._usage = usage

    @property
    def _queue_outbox(self) -> bool:
        return self._usage.queue_outbox

    @property
    def one_writer(self) -> bool:
        """True when the database admits one writer at a time across every process (SQLite):
        a second write group in flight would only wait for its lock."""
        return self._ctx.db.is_sqlite

    def ingest(self, events: Sequence[object], *, caller_customer_id: str | None) -> IngestResult:
        """Validate every event, then record them all in one transaction (or nothing).

        ``caller_customer_id`` is the customer of a tenant key (events may not name another
        customer), or None for an admin key (every event names its ``customer_id``). Up to
        ``store.PG_STATEMENT_MAX`` events take the single-event statement path
        (``store.write_group``), more the batch path of ``record_many`` (COPY on PostgreSQL)."""
        now = self._ctx.clock()
        parsed = self._validate(events, caller_customer_id, now)
        if len(parsed) <= store.PG_STATEMENT_MAX:
            (answer,) = self._write_group([parsed], now)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return self._write_batch(parsed, now)

    @property
    def writes_on_loop(self) -> bool:
        """True when a group can be written from the event loop (``ingest_many_on_loop``):
        PostgreSQL, over its async connections; SQLite's writes block (a thread's work)."""
        return self._ctx.db.is_postgresql

    def ingest_many(self, requests: Sequence[IngestRequest]) -> list[IngestResult | Exception]:
        """Several requests written as one transaction (group commit: the HTTP service sends
        the requests that arrived while its previous group was being written), each answered
        as ``ingest`` would answer it had they come one after the other in this order: an
        event seen in an earlier request of the group is a duplicate, and a request that fails
        (invalid events, an unknown customer) fails alone while the others are written."""
        now = self._ctx.clock()
        answers, valid = self._validate_each(requests, now)
        return _merged(answers, self._write_group(valid, now))

    def _write_group(self, requests: list[list[store.NewUsage]], now: datetime) -> _Answers:
        """The validated events of several requests in one transaction on the single-event
        path (each request's own answer); if that cannot be written, ``_each_alone``."""
        owner, fresh = _first_owners(requests)
        try:
            new = store.write_group(self._ctx.db, fresh, now=now, queue_outbox=self._queue_outbox)
        except (NotFound, DatabaseError):
            return self._each_alone(requests, now)
        return _group_answers(requests, owner, new)

    async def ingest_many_on_loop(
        self,
        requests: Sequence[IngestRequest],
        *,
        in_thread: Callable[[Callable[[], _Answers]], Awaitable[_Answers]],
    ) -> _Answers:
        """``ingest_many`` with the group written by the running event loop on PostgreSQL
        (``store.write_group_on_loop``: no thread hand-off, docs/HTTP.md); the same answers.
        If the group cannot be written, each request is written on its own by the blocking
        path in a thread (``in_thread``), so a bad request fails alone."""
        now = self._ctx.clock()
        answers, valid = self._validate_each(requests, now)
        owner, fresh = _first_owners(valid)
        try:
            new = await store.write_group_on_loop(
                self._ctx.db, fresh, now=now, queue_outbox=self._queue_outbox
            )
        except (NotFound, DatabaseError):
            return _merged(answers, await in_thread(lambda: self._each_alone(valid, now)))
        return _merged(answers, _group_answers(valid, owner, new))

    def _validate_each(
        self, requests: Sequence[IngestRequest], now: datetime
    ) -> tuple[list[Exception | None], list[list[store.NewUsage]]]:
        """Each request's events validated: its error (or None) in order, and the valid
        requests' events."""
        answers: list[Exception | None] = []
        valid: list[list[store.NewUsage]] = []
        for request in requests:
            try:
                valid.append(self._validate(request.events, request.caller_customer_id, now))
                answers.append(None)
            except Exception as error:
                answers.append(error)
        return answers, valid

    def _each_alone(self, requests: list[list[store.NewUsage]], now: datetime) -> _Answers:
        """The requests of a group that could not be written (a request names an unknown
        customer, nothing of the group was written), each on its own, so that a bad request
        fails alone."""
        return [self._alone(events, now) for events in requests]

    def _alone(self, events: list[store.NewUsage], now: datetime) -> IngestResult | Exception:
        try:
            return self._write_batch(events, now)
        except Exception as error:
            return error

    def _validate(
        self, events: Sequence[object], caller_customer_id: str | None, now: datetime
    ) -> list[store.NewUsage]:
        if not events:
            raise InvalidEvents([{"index": None, "field": "events", "message": "no events"}])
        if len(events) > MAX_BATCH:
            raise InvalidEvents(
                [
                    {
                        "index": None,
                        "field": "events",
                        "message": f"at most {MAX_BATCH} events per request",
                    }
                ]
            )
        parsed: list[store.NewUsage] = []
        errors: list[dict[str, Any]] = []
        for index, raw in enumerate(events):
            try:
                parsed.append(self._parse(raw, caller_customer_id, now))
            except _EventError as problem:
                errors.append({"index": index, "field": problem.field, "message": problem.message})
        if errors:
            raise InvalidEvents(errors)
        return parsed

    def _write_batch(self, parsed: list[store.NewUsage], now: datetime) -> IngestResult:
        """One request's events by the batch path of ``record_many``, all or nothing."""
        seen: set[tuple[str, str]] = set()
        kept: list[store.NewUsage] = []
        positions: list[int] = []
        for index, event in enumerate(parsed):
            if event.identity not in seen:
                seen.add(event.identity)
                kept.append(event)
                positions.append(index)
        batch = PreparedBatch(now, kept, positions, len(parsed) - len(kept), [], False)
        try:
            written = self._usage.write_batch(batch)
        except NotFound:
            raise InvalidEvents(self._unknown_customers(parsed)) from None
        return IngestResult(len(parsed), written.accepted, written.duplicates)

    def _unknown_customers(self, events: Sequence[store.NewUsage]) -> list[dict[str, Any]]:
        first: dict[str, int] = {}
        for index, event in enumerate(events):
            first.setdefault(event.customer_id, index)
        with self._ctx.db.read() as conn:
            return [
                {
                    "index": index,
                    "field": "customer_id",
                    "message": f"customer not found: {customer}",
                }
                for customer, index in first.items()
                if not customer_store.exists(conn, customer)
            ]

    @staticmethod
    def _parse(raw: object, caller_customer_id: str | None, now: datetime) -> store.NewUsage:
        if not isinstance(raw, Mapping):
            raise _EventError("event", "must be a JSON object")
        if not raw.keys() <= EVENT_FIELDS:
            raise _EventError(
                sorted(str(k) for k in raw if k not in EVENT_FIELDS)[0], "unknown field"
            )
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
        if service not in SERVICES:
            raise _EventError("service", UnknownService(service, SERVICE_NAMES).message)
        if "quantity" not in raw:
            raise _EventError("quantity", "required")
        try:
            quantity, micros = quantity_and_micros(raw["quantity"])
        except BillingError as problem:
            raise _EventError("quantity", problem.message) from None
        try:
            metadata, metadata_json = metadata_and_json(raw.get("metadata"))
        except BillingError as problem:
            raise _EventError("metadata", problem.message) from None
        event_id = raw.get("id")
        if event_id is None:
            event_id = new_key()
        else:
            try:
                event_id = check_idempotency_key(event_id, maximum=MAX_ID_LENGTH)
            except BillingError as problem:
                raise _EventError("id", problem.message) from None
        stamp = raw.get("timestamp")
        when = now if stamp is None else _parse_timestamp(stamp)
        return store.NewUsage(
            customer_id=customer,
            service=service,
            quantity=quantity,
            quantity_micros=micros,
            metadata=metadata,
            recorded_at=when,
            idempotency_key=event_id,
            metadata_json=metadata_json,
        )
