"""Usage use cases: record events exactly once (one at a time or in batches), and report them.

Exactly once: an event is the pair (customer, idempotency key), the caller's key or a generated
one; the raw event and its per-day rollup are written in one transaction by the one write path
(``store/events.py``), and a pair already stored makes the whole write a no-op. The same key
from two customers names two events. Unknown customers are caught by the foreign key (no lookup
per event).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from ..domain import trackers
from ..domain.money import MICROS
from ..domain.quantities import MAX_QUANTITY, quantity_and_micros
from ..domain.services import SERVICES
from ..domain.usage import (
    MAX_KEY_LENGTH,
    UsageEvent,
    check_idempotency_key,
    check_service,
    check_timestamp,
    metadata_and_json,
    parse_timestamp,
)
from ..errors import BillingError, DatabaseError, InvalidInput, NotFound
from ..store import events as store
from ..store.usage import existing_customers
from .context import Context
from .current_customer import CurrentCustomer

if TYPE_CHECKING:
    from ..store.db import Connection
    from .usage_report import UsageReport

T = TypeVar("T")

#: PostgreSQL asks to retry a transaction that lost a deadlock or serialization race
_RETRY_SQLSTATES = ("40P01", "40001")
_RETRIES = 5
#: whole quantities up to this need no decimal parsing (the largest one event may carry)
_MAX_WHOLE = int(MAX_QUANTITY)
_EMPTY: dict[str, Any] = {}


@dataclass(frozen=True)
class RecordResult:
    idempotency_key: str
    #: False when an event with the same idempotency key was already recorded
    recorded: bool


@dataclass(frozen=True)
class Rejection:
    #: position of the event in the batch (0-based)
    index: int
    reason: str


@dataclass(frozen=True)
class BatchResult:
    #: events recorded now
    accepted: int
    #: events whose key was already recorded (before, or earlier in the same batch)
    duplicates: int
    #: events refused as invalid (only with ``skip_invalid=True``; otherwise the batch raises)
    rejected: tuple[Rejection, ...] = ()


@dataclass(frozen=True)
class PreparedBatch:
    """A validated batch, not yet written (see ``UsageService.prepare_batch``)."""

    now: datetime
    #: one event per identity (customer, key): the first, in batch order (customer "" for the
    #: current customer, resolved when written)
    events: list[store.NewUsage]
    #: the batch position of each of ``events`` (a parallel list)
    positions: list[int]
    in_batch_duplicates: int
    rejected: list[Rejection]
    skip_invalid: bool


class _Encoded(NamedTuple):
    """Metadata already validated and serialized (shared by several events of a batch)."""

    metadata: dict[str, Any]
    json: str


def _parts(tracked: trackers.Tracked) -> tuple[str, Decimal, dict[str, Any]]:
    return tracked.service, tracked.quantity, tracked.metadata


def new_key() -> str:
    """A generated idempotency key: 32 hex digits, the system time in milliseconds then 80
    random bits (ordered as a UUIDv7 is). Unique like a random key, but the keys of new events
    land at the end of the key index instead of one random leaf each, so a write dirties a few
    index pages rather than one per event."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


class UsageService:
    """``current`` resolves the customer of a call that names none; with ``queue_outbox``
    (the Stripe engine, chosen in bootstrap.py) each new event is also queued for its Billing
    Meters (billing_usage_outbox, same transaction); off, the local fast path is unchanged."""

    def __init__(self, ctx: Context, *, current: CurrentCustomer, queue_outbox: bool) -> None:
        self._ctx = ctx
        self._current = current
        self._known_customers: set[str] = set()
        self._queue_outbox = queue_outbox

    @property
    def queue_outbox(self) -> bool:
        """Whether each new event is also queued for the Stripe provider's meters."""
        return self._queue_outbox

    # -- one event -----------------------------------------------------------------------------

    def record(
        self,
        service: str,
        quantity: object,
        metadata: object = None,
        *,
        customer_id: str | None = None,
        idempotency_key: str | None = None,
        at: datetime | str | None = None,
    ) -> RecordResult:
        """Record one usage event in its own transaction; the same idempotency key counts once.
        ``at`` (default now) may be in the past: the event lands in the period it belongs to."""
        now = self._ctx.clock()
        if now.tzinfo is not UTC:
            now = now.astimezone(UTC)
        chosen = self._chosen_customer(customer_id) or self._ctx_customer()
        event = self._new_usage(service, quantity, metadata, chosen, idempotency_key, at, now)
        try:
            recorded = store.record_one(
                self._ctx.db, event, now=now, queue_outbox=self._queue_outbox
            )
        except DatabaseError as error:
            if not _retryable(error):
                raise

            def write() -> bool:
                return store.record_one(
                    self._ctx.db, event, now=now, queue_outbox=self._queue_outbox
                )

            recorded = self._retrying(write, attempts=_RETRIES - 1)
        return RecordResult(event.idempotency_key, recorded)

    def track_api_request(
        self,
        endpoint: str,
        method: str = "GET",
        status_code: int | str = 200,
        *,
        customer_id: str | None = None,
        idempotency_key: str | None = None,
        at: datetime | str | None = None,
    ) -> RecordResult:
        """One API request (1 request; metadata endpoint, method, status)."""
        tracked = trackers.api_request(endpoint, method, status_code)
        return self.record(
            *_parts(tracked), customer_id=customer_id, idempotency_key=idempotency_key, at=at
        )

    def track_storage(
        self,
        num_bytes: int | str | Decimal,
        duration_hours: int | str | Decimal = 1,
        *,
        customer_id: str | None = None,
        idempotency_key: str | None = None,
        at: datetime | str | None = None,
    ) -> RecordResult:
        """Bytes stored for some hours, as GB-hours (bytes x hours / 2^30)."""
        tracked = trackers.storage(num_bytes, duration_hours)
        return self.record(
            *_parts(tracked), customer_id=customer_id, idempotency_key=idempotency_key, at=at
        )

    def track_bandwidth(
        self,
        num_bytes: int | str | Decimal,
        direction: str = "egress",
        *,
        customer_id: str | None = None,
        idempotency_key: str | None = None,
        at: datetime | str | None = None,
    ) -> RecordResult:
        """Bytes transferred, as GB (bytes / 2^30); direction egress or ingress."""
        tracked = trackers.bandwidth(num_bytes, direction)
        return self.record(
            *_parts(tracked), customer_id=customer_id, idempotency_key=idempotency_key, at=at
        )

    def track_compute(
        self,
        cpu_seconds: int | str | Decimal,
        metadata: object = None,
        *,
        customer_id: str | None = None,
        idempotency_key: str | None = None,
        at: datetime | str | None = None,
    ) -> RecordResult:
        """CPU seconds, as CPU-hours (seconds / 3600); free-form metadata."""
        tracked = trackers.compute(cpu_seconds, metadata)
        return self.record(
            *_parts(tracked), customer_id=customer_id, idempotency_key=idempotency_key, at=at
        )

    def track_database_query(
        self,
        query_type: str = "SELECT",
        duration_ms: int | str | Decimal = 0,
        *,
        customer_id: str | None = None,
        idempotency_key: str | None = None,
        at: datetime | str | None = None,
    ) -> RecordResult:
        """One database query (metadata query_type, duration_ms)."""
        tracked = trackers.database_query(query_type, duration_ms)
        return self.record(
            *_parts(tracked), customer_id=customer_id, idempotency_key=idempotency_key, at=at
        )

    def track_function(
        self,
        function_name: str,
        duration_ms: int | str | Decimal = 0,
        memory_mb: int | str | Decimal = 128,
        *,
        customer_id: str | None = None,
        idempotency_key: str | None = None,
        at: datetime | str | None = None,
    ) -> RecordResult:
        """One serverless function invocation (metadata function, duration_ms, memory_mb)."""
        tracked = trackers.function(function_name, duration_ms, memory_mb)
        return self.record(
            *_parts(tracked), customer_id=customer_id, idempotency_key=idempotency_key, at=at
        )

    # -- batches -------------------------------------------------------------------------------

    def record_many(
        self,
        events: Iterable[UsageEvent | Mapping[str, Any]],
        *,
        customer_id: str | None = None,
        skip_invalid: bool = False,
    ) -> BatchResult:
        """Record a batch in one transaction, rollups included; keys seen before or earlier in
        the batch count once. Invalid events (bad input, unknown customer) make the whole batch
        fail with nothing written, unless ``skip_invalid``: then they are reported in
        ``rejected`` and the others are recorded."""
        return self.write_batch(
            self.prepare_batch(events, customer_id=customer_id, skip_invalid=skip_invalid)
        )

    def prepare_batch(
        self,
        events: Iterable[UsageEvent | Mapping[str, Any]],
        *,
        customer_id: str | None = None,
        skip_invalid: bool = False,
    ) -> PreparedBatch:
        """The validation half of ``record_many`` (no database work): a pipeline can prepare
        the next batch while the previous one is written."""
        now = self._ctx.clock()
        if now.tzinfo is not UTC:
            now = now.astimezone(UTC)
        default_customer = self._chosen_customer(customer_id) or ""
        # an event's identity is (customer, key); the events of the batch's own customer (most
        # often all of them) are told apart by their key alone, a string: cheaper to hash
        seen: set[object] = set()
        kept: list[store.NewUsage] = []
        positions: list[int] = []
        rejected: list[Rejection] = []
        valid = 0
        new_usage = self._new_usage
        # events of a list or tuple often share one metadata dict: it is serialized once (not
        # for other iterables, which may change a shared dict between two events)
        shared = isinstance(events, list | tuple)
        last_dict: object = None
        last_encoded: _Encoded | None = None
        for index, item in enumerate(events):
            try:
                if type(item) is UsageEvent:
                    service, quantity, metadata, key, at, customer = (
                        item.service,
                        item.quantity,
                        item.metadata,
                        item.idempotency_key,
                        item.at,
                        item.customer_id,
                    )
                else:
                    service, quantity, metadata, key, at, customer = _fields(item)
                if shared and type(metadata) is dict:
                    if metadata is not last_dict:
                        last_encoded = _Encoded(*metadata_and_json(metadata))
                        last_dict = metadata
                    metadata = last_encoded
                usage = new_usage(
                    service, quantity, metadata, customer or default_customer, key, at, now
                )
            except BillingError as error:
                if not skip_invalid:
                    raise InvalidInput(f"Event {index + 1}: {error.message}") from None
                rejected.append(Rejection(index, error.message))
                continue
            valid += 1
            identity: object = (
                usage.idempotency_key
                if usage.customer_id == default_customer
                else (usage.customer_id, usage.idempotency_key)
            )
            if identity not in seen:
                seen.add(identity)
                kept.append(usage)
                positions.append(index)
        return PreparedBatch(now, kept, positions, valid - len(kept), rejected, skip_invalid)

    def write_batch(self, prepared: PreparedBatch) -> BatchResult:
        """The writing half of ``record_many``: one transaction (retried if PostgreSQL reports a
        deadlock or serialization failure)."""
        skip_invalid = prepared.skip_invalid
        small = prepared.events
        if 0 < len(small) <= store.PG_STATEMENT_MAX and all(e.customer_id for e in small):
            # a few events: the single-event path (one statement, no transaction round trips)
            try:
                new = self._retrying(
                    lambda: store.write_group(
                        self._ctx.db, small, now=prepared.now, queue_outbox=self._queue_outbox
                    )
                )
            except NotFound:
                pass  # nothing written: the batch path names (or refuses) the unknown customers
            else:
                return BatchResult(
                    len(new),
                    len(small) - len(new) + prepared.in_batch_duplicates,
                    tuple(sorted(prepared.rejected, key=lambda r: r.index)),
                )

        def write() -> tuple[int, list[Rejection], int]:
            with self._ctx.db.write() as conn:
                batch = prepared.events
                positions = prepared.positions
                merged = 0
                if any(not e.customer_id for e in batch):
                    current = self._resolve(conn)
                    batch, positions = _resolved(batch, positions, current)
                    merged = len(prepared.events) - len(batch)
                refused: list[Rejection] = []
                unknown = self._unknown_customers(conn, {e.customer_id for e in batch})
                if unknown:
                    if not skip_invalid:
                        raise NotFound(f"Customer not found: {', '.join(sorted(unknown))}")
                    refused = [
                        Rejection(position, f"Customer not found: {e.customer_id}")
                        for e, position in zip(batch, positions, strict=True)
                        if e.customer_id in unknown
                    ]
                    batch = [e for e in batch if e.customer_id not in unknown]
                return (
                    store.insert_events(
                        conn, batch, now=prepared.now, queue_outbox=self._queue_outbox
                    ),
                    refused,
                    merged,
                )

        accepted, refused, merged = self._retrying(write)
        stored = len(prepared.events) - merged - len(refused)
        return BatchResult(
            accepted,
            stored - accepted + prepared.in_batch_duplicates + merged,
            tuple(sorted(prepared.rejected + refused, key=lambda r: r.index)),
        )

    # -- reporting -----------------------------------------------------------------------------

    def summary(
        self,
        *,
        customer_id: str | None = None,
        period: str = "current",
        start: date | str | None = None,
        end: date | str | None = None,
        service: str | None = None,
        detailed: bool = False,
    ) -> UsageReport:
        """Usage per service over a period (``current``, ``last-month`` or ``custom`` with
        ``start``/``end`` days, inclusive), costed against the plan, from the rollups."""
        from .usage_report import build_report

        target = customer_id or self._ctx_customer()
        return build_report(
            self._ctx,
            target,
            period=period,
            start=start,
            end=end,
            service=service,
            detailed=detailed,
        )

    # -- helpers -------------------------------------------------------------------------------

    def _new_usage(
        self,
        service: str,
        quantity: object,
        metadata: object,
        customer_id: str,
        idempotency_key: str | None,
        at: datetime | str | None,
        now: datetime,
    ) -> store.NewUsage:
        """Validate one event (the hot path of every recording: kept lean)."""
        if service not in SERVICES:
            check_service(service)
        if type(quantity) is int and 0 <= quantity <= _MAX_WHOLE:  # the parser's fast path
            amount, micros = Decimal(quantity), quantity * MICROS
        else:
            amount, micros = quantity_and_micros(quantity)
        if metadata is None or metadata == "":
            meta, meta_json = _EMPTY, "{}"
        elif type(metadata) is _Encoded:
            meta, meta_json = metadata
        else:
            meta, meta_json = metadata_and_json(metadata)
        if at is None:
            when = now
        elif isinstance(at, str):
            when = parse_timestamp(at)
        elif isinstance(at, datetime):
            when = check_timestamp(at)
            if when.tzinfo is not UTC:
                when = when.astimezone(UTC)
        else:
            raise InvalidInput(f"Invalid timestamp: {at!r}")
        if idempotency_key is None:
            key = new_key()
        elif (  # is_plain_key() inlined: the hot path of every recording
            type(idempotency_key) is str
            and 0 < len(idempotency_key) <= MAX_KEY_LENGTH
            and idempotency_key.isascii()
            and "\x00" not in idempotency_key
        ):
            key = idempotency_key
        else:
            key = check_idempotency_key(idempotency_key)
        return store.NewUsage(customer_id, service, amount, micros, meta, when, key, meta_json)

    def _chosen_customer(self, customer_id: str | None) -> str | None:
        """An explicit customer (argument, --customer, NSELF_CUSTOMER_ID), checked for shape;
        None when the current customer must be looked up in the database."""
        return self._current.chosen(customer_id)

    def _resolve(self, conn: Connection) -> str:
        """The only customer in the database (the spec's fallback), in the caller's
        transaction."""
        return self._current.only_in(conn)

    def _unknown_customers(self, conn: Connection, customer_ids: set[str]) -> set[str]:
        wanted = customer_ids - self._known_customers
        if not wanted:
            return set()
        found = existing_customers(conn, wanted)
        if len(self._known_customers) < 10_000:
            self._known_customers |= found
        return wanted - found

    def _ctx_customer(self) -> str:
        return self._current.id()

    def _retrying(self, write: Callable[[], T], *, attempts: int = _RETRIES) -> T:
        for attempt in range(attempts):
            try:
                return write()
            except DatabaseError as error:
                if attempt + 1 == attempts or not _retryable(error):
                    raise
        raise AssertionError("unreachable")


def _retryable(error: BaseException) -> bool:
    cause = error.__cause__
    original = getattr(cause, "orig", cause)
    return getattr(original, "sqlstate", None) in _RETRY_SQLSTATES


def _resolved(
    events: list[store.NewUsage], positions: list[int], customer_id: str
) -> tuple[list[store.NewUsage], list[int]]:
    """The batch with ``customer_id`` for the events that named none: an event keyed for the
    current customer implicitly and one naming it are the same event (the first is kept)."""
    kept: list[store.NewUsage] = []
    where: list[int] = []
    seen: set[tuple[str, str]] = set()
    for event, position in zip(events, positions, strict=True):  # the first of a pair is kept
        if not event.customer_id:
            event = event._replace(customer_id=customer_id)
        if event.identity not in seen:
            seen.add(event.identity)
            kept.append(event)
            where.append(position)
    return kept, where


_FIELD_NAMES = frozenset(
    {
        "service",
        "quantity",
        "metadata",
        "idempotency_key",
        "at",
        "customer_id",
        "id",
        "timestamp",
        "service_name",
    }
)
Fields = tuple[Any, Any, Any, Any, Any, Any]


def _fields(item: object) -> Fields:
    """(service, quantity, metadata, key, at, customer) of a mapping event; ``id``,
    ``timestamp`` and ``service_name`` are accepted as names too, empty values as absent."""
    if type(item) is not dict and not isinstance(item, Mapping):
        raise InvalidInput(f"Invalid event: expected a mapping, got {type(item).__name__}")
    if not _FIELD_NAMES.issuperset(item):
        unknown = item.keys() - _FIELD_NAMES
        raise InvalidInput(f"Invalid event: unknown field(s) {', '.join(sorted(unknown))}")
    get = item.get
    service = get("service") or get("service_name")
    quantity = get("quantity")
    if not service or quantity is None or quantity == "":
        raise InvalidInput("Invalid event: service and quantity are required")
    return (
        service,
        quantity,
        get("metadata"),
        get("idempotency_key") or get("id") or None,
        get("at") or get("timestamp") or None,
        get("customer_id") or None,
    )
