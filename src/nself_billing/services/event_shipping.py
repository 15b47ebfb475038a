"""Raw usage events on ClickHouse: ship the outbox, reconcile, delete shipped raw rows.

PostgreSQL accepts every event in one transaction (key, rollup, and, through the capture
trigger, an outbox row), so quotas stay exact whatever ClickHouse is doing. The shipper moves
outbox batches to ClickHouse; a batch is inserted with a deduplication token made from its
outbox ids, and its outbox rows are deleted in the PostgreSQL transaction that claimed them,
after the insert. A shipper that dies between the two leaves the rows in the outbox: the
next one inserts the same batch with the same token, which ClickHouse drops, or (if newer
events joined the batch) a batch whose repeated rows the ReplacingMergeTree collapses. Either
way every event is counted once by the exact (``FINAL``) reads.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from ..domain.money import from_micros
from ..errors import BillingError, ConfigError, DatabaseError
from ..store import event_outbox as store
from ..store.clickhouse import MAX_QUANTITY, ClickHouseEvents
from .context import Context

#: events per batch: one ClickHouse block each (ClickHouse prefers few large inserts)
BATCH_SIZE = 10_000
#: raw events deleted per statement when pruning
PRUNE_CHUNK = 50_000
#: the shipper's lag (age of the oldest event waiting) that doctor reports as a failure
LAG_ALARM = timedelta(minutes=5)


def batch_token(claimed: Sequence[store.Claimed]) -> str:
    """The deduplication token of a batch: its outbox id range, its size and a digest of what
    it takes of each outbox row (id, first event id, events), so the same batch retried gets
    the same token, and a batch that differs (a row committed late with a lower id, the next
    part of a split row) does not."""
    digest = hashlib.blake2b(
        b",".join(f"{c.outbox_id}@{c.first_id}:{c.taken}".encode() for c in claimed),
        digest_size=8,
    ).hexdigest()
    events = sum(c.taken for c in claimed)
    return f"nself-events:{claimed[0].outbox_id}-{claimed[-1].outbox_id}:{events}:{digest}"


@dataclass(frozen=True)
class ShipResult:
    events: int
    batches: int


@dataclass(frozen=True)
class ShipperStatus:
    location: str
    pending: int
    #: age of the oldest event waiting to be shipped (zero when none wait)
    lag: timedelta
    shipped_events: int
    last_shipped_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    last_reconcile_at: datetime | None
    last_reconcile_differences: int | None
    pruned_events: int
    raw_pruned_before: datetime | None
    capture_installed: bool


@dataclass(frozen=True)
class DayDifference:
    customer_id: str
    service: str
    day: date
    #: the PostgreSQL rollup, and what ClickHouse holds plus what waits in the outbox
    postgres: Decimal
    postgres_events: int
    clickhouse: Decimal
    clickhouse_events: int
    pending: Decimal
    pending_events: int

    @property
    def difference(self) -> Decimal:
        return self.postgres - self.clickhouse - self.pending


@dataclass(frozen=True)
class EventReconcile:
    #: (customer, service, day) keys compared
    compared: int
    differences: tuple[DayDifference, ...]

    @property
    def consistent(self) -> bool:
        return not self.differences


class EventService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    @property
    def configured(self) -> bool:
        return self._ctx.events is not None

    @property
    def clickhouse(self) -> ClickHouseEvents:
        if self._ctx.events is None:
            raise ConfigError(
                "ClickHouse is not configured (set BILLING_CLICKHOUSE_URL, e.g. "
                "http://user:password@host:8123/billing or chdb:///path/to/dir)"
            )
        return self._ctx.events

    # -- setup --------------------------------------------------------------------------

    def migrate(self) -> tuple[int, bool]:
        """Create the ClickHouse tables and install the capture trigger (queuing the events
        already stored). Returns (events queued, whether the trigger was new)."""
        clickhouse = self.clickhouse
        clickhouse.create_tables()
        with self._ctx.db.write() as conn:
            installed = store.capture_installed(conn)
            queued = store.install_capture(conn)
        return queued, not installed

    def disable_capture(self) -> bool:
        """Without ClickHouse configured: drop the trigger (and stop filling the outbox)."""
        if not self._ctx.db.is_postgresql:
            return False
        with self._ctx.db.write() as conn:
            return store.remove_capture(conn)

    # -- shipping -----------------------------------------------------------------------

    def ship(
        self,
        *,
        batch_size: int = BATCH_SIZE,
        max_batches: int | None = None,
        after_insert: Callable[[int], None] | None = None,
    ) -> ShipResult:
        """Move outbox batches to ClickHouse until the outbox is empty (or ``max_batches``).
        ``after_insert`` is called with the batch size between the ClickHouse insert and the
        PostgreSQL commit (where a crash is the worst case; the fault tests kill there).
        A ClickHouse failure is recorded for doctor and raised; nothing is lost."""
        clickhouse = self.clickhouse
        events = batches = 0
        try:
            while max_batches is None or batches < max_batches:
                claimed, shipped = self._ship_batch(clickhouse, batch_size, after_insert)
                if claimed == 0:
                    break
                events += shipped
                batches += 1
        except BillingError as error:
            with self._ctx.db.write() as conn:
                store.record_error(conn, error=error.message, now=self._ctx.clock())
            raise
        return ShipResult(events, batches)

    def _ship_batch(
        self,
        clickhouse: ClickHouseEvents,
        batch_size: int,
        after_insert: Callable[[int], None] | None,
    ) -> tuple[int, int]:
        """One batch: (outbox rows taken, events inserted; fewer when an operator's SQL row
        lacks a customer, service or time, which the rollups do not count either). The claim,
        the deletion and the CSV are PostgreSQL's (two statements and a COPY), the parsing
        ClickHouse's: Python only passes the bytes on."""
        outbox_ids: list[int] = []
        try:
            with self._ctx.db.write() as conn:
                claimed = store.claim_batch(conn, batch_size)
                if not claimed:
                    return 0, 0
                outbox_ids = [c.outbox_id for c in claimed]
                data, rows = store.batch_csv(conn, claimed)
                token = batch_token(claimed)
                clickhouse.insert_csv(data, token=token)
                if after_insert is not None:
                    after_insert(rows)
                store.record_shipped(conn, events=rows, token=token, now=self._ctx.clock())
        except DatabaseError:
            if outbox_ids:
                self._name_oversized(outbox_ids)
            raise
        return len(claimed), rows

    def _name_oversized(self, outbox_ids: list[int]) -> None:
        """After ClickHouse refused a batch (its claim rolled back): if an event's quantity is
        too large for Decimal(18, 6), say which, so an operator can fix or delete it."""
        with self._ctx.db.read() as conn:
            too_big = store.oversized(conn, outbox_ids, MAX_QUANTITY)
        if too_big is not None:
            raise DatabaseError(
                f"Usage event {too_big} has a quantity ClickHouse's Decimal(18, 6) "
                "cannot hold; fix or delete it, then ship again"
            ) from None

    def prune(self) -> int:
        """Delete shipped raw events past the horizon (BILLING_RAW_USAGE_KEEP_DAYS) whose
        billing period is closed; nothing with ``forever``."""
        keep = self._ctx.settings.raw_usage_keep_days
        if keep is None or self._ctx.events is None:
            return 0
        cutoff = self._ctx.clock() - timedelta(days=keep)
        total = 0
        while True:
            with self._ctx.db.write() as conn:
                deleted = store.prune(conn, cutoff=cutoff, limit=PRUNE_CHUNK)
            total += deleted
            if deleted < PRUNE_CHUNK:
                return total

    def run_worker(
        self,
        stop: threading.Event,
        *,
        idle_seconds: float = 1.0,
        batch_size: int = BATCH_SIZE,
        prune_every: int = 600,
    ) -> None:
        """The background shipper of ``serve`` (and ``usage ship``): ship, prune now and then,
        wait ``idle_seconds`` when idle; a failure is logged and retried with a growing pause,
        never raised."""
        failures = 0
        rounds = 0
        while not stop.is_set():
            try:
                result = self.ship(batch_size=batch_size)
                if rounds % prune_every == 0:
                    self.prune()
                rounds += 1
                failures = 0
            except BillingError as error:
                failures += 1
                self._ctx.log.warning("event shipper: %s", error.message)
                stop.wait(min(30.0, idle_seconds * 2**failures))
                continue
            if result.events == 0:
                stop.wait(idle_seconds)

    # -- state and checks ----------------------------------------------------------------

    def status(self) -> ShipperStatus:
        with self._ctx.db.read() as conn:
            state = store.state(conn)
        now = self._ctx.clock()
        lag = now - state.oldest_pending_at if state.oldest_pending_at else timedelta(0)
        return ShipperStatus(
            self.clickhouse.location,
            state.pending,
            max(lag, timedelta(0)),
            state.shipped_events,
            state.last_shipped_at,
            state.last_error,
            state.last_error_at,
            state.last_reconcile_at,
            state.last_reconcile_differences,
            state.pruned_events,
            state.raw_pruned_before,
            state.capture_installed,
        )

    def reconcile(self, customer_id: str | None = None) -> EventReconcile:
        """PostgreSQL's per-day rollups against ClickHouse's totals (exact, ``FINAL``) plus the
        events still in the outbox, per customer, service and day. The batches in flight are
        waited for and new ones held back while both sides are read."""
        clickhouse = self.clickhouse
        ids = [customer_id] if customer_id else None
        with self._ctx.db.read() as conn:
            store.lock_for_reconcile(conn)
            rollups = store.rollup_day_totals(conn, ids)
            pending = store.pending_day_totals(conn, ids)
            shipped = clickhouse.day_totals(ids)
        differences = []
        for key in sorted(set(rollups) | set(pending) | set(shipped)):
            ours = rollups.get(key, (0, 0))
            theirs = shipped.get(key, (0, 0))
            waiting = pending.get(key, (0, 0))
            if ours == (0, 0) and theirs == (0, 0) and waiting == (0, 0):
                continue
            if ours[0] != theirs[0] + waiting[0] or ours[1] != theirs[1] + waiting[1]:
                differences.append(
                    DayDifference(
                        key[0],
                        key[1],
                        key[2],
                        from_micros(ours[0]),
                        ours[1],
                        from_micros(theirs[0]),
                        theirs[1],
                        from_micros(waiting[0]),
                        waiting[1],
                    )
                )
        with self._ctx.db.write() as conn:
            store.record_reconcile(conn, differences=len(differences), now=self._ctx.clock())
        return EventReconcile(len(set(rollups) | set(shipped)), tuple(differences))
