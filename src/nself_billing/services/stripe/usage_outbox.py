"""Usage to Stripe, exactly once: drain the outbox, report it, reconcile with Stripe.

Exactly once = at least once (a row is marked sent only after Stripe acknowledged the request
that carried it; anything else leaves it pending for the next drain) + at most once (each row
carries a stable identifier, and Stripe counts an identifier once). A drain that stops midway
resumes with the same identifiers.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from ...domain.money import from_micros
from ...errors import BillingError, ConfigError, ProviderError
from ...providers.port import MeterEvent, RemoteBilling
from ...store import outbox as store
from ...store import subscriptions as subscription_store
from ...store import usage as usage_store
from ...store.outbox import OutboxCounts as OutboxCounts  # what status() returns
from ..context import Context

#: one meter event stream request carries at most 100 events
REQUEST_BATCH = 100
#: events leased per database round trip
CLAIM_BATCH = 1000
LEASE = timedelta(minutes=5)
#: requests in flight at once: the SDK's encoding and the round trip overlap (Stripe's stream
#: takes 10,000 events/s in live mode, far above what four requests of 100 reach)
DEFAULT_CONCURRENCY = 4
#: the subscriptions whose current period ``reconcile`` compares with Stripe
RECONCILED_STATUSES = ("active", "trialing", "past_due", "unpaid")


def is_retryable(error: ProviderError) -> bool:
    """Rate limits, Stripe's own failures and the network: try again later. Anything else
    (a 400: the event itself is refused) will not get better by retrying."""
    status = error.http_status
    return error.code == "network" or status is None or status in (409, 429) or status >= 500


def refuses_every_batch(error: ProviderError) -> bool:
    """401, 403, 404: the key, its permissions or the address is wrong, not the events."""
    return error.code == "authentication" or error.http_status in (401, 403, 404)


def backoff_seconds(attempt: int, *, cap: float = 30.0) -> float:
    """Exponential with jitter: 0.5, 1, 2, 4 ... seconds, at most ``cap``."""
    base: float = min(cap, 0.5 * 2 ** max(attempt - 1, 0))
    return base * (0.5 + random.random() / 2)


@dataclass
class DrainResult:
    sent: int = 0
    failed: int = 0
    expired: int = 0
    #: set aside unsent: first sent over 24 h ago without an answer (see reconcile)
    unknown: int = 0
    retried_requests: int = 0
    #: the retryable error that stopped the drain (the rows stay pending), if any
    stopped_by: str | None = None
    requests: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReconcileLine:
    customer_id: str
    service: str
    period_start: datetime
    period_end: datetime
    ours: Decimal
    stripe: Decimal | None
    unsent: Decimal

    @property
    def difference(self) -> Decimal | None:
        """What Stripe is missing beyond what is still queued (0 when in step)."""
        if self.stripe is None:
            return None
        return self.ours - self.unsent - self.stripe


@dataclass
class _BatchOutcome:
    sent: int = 0
    failed: int = 0
    requests: int = 0
    retried: int = 0
    error: str | None = None
    #: a retryable failure outlasted the retries: the drain stops, the rows stay pending
    stopped: bool = False


class OutboxService:
    def __init__(
        self,
        ctx: Context,
        *,
        sleep: Callable[[float], None] = time.sleep,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self._ctx = ctx
        self._sleep = sleep
        self._concurrency = max(1, concurrency)

    def _remote(self) -> RemoteBilling:
        provider = self._ctx.provider
        if not isinstance(provider, RemoteBilling):
            raise ConfigError(
                "Usage sync needs the Stripe provider (set STRIPE_SECRET_KEY or "
                "BILLING_PROVIDER=stripe)"
            )
        return provider

    def status(self) -> store.OutboxCounts:
        with self._ctx.db.read() as conn:
            return store.counts(conn, now=self._ctx.clock())

    def backfill(self) -> int:
        """Queue every recorded usage event that is not in the outbox yet (events inserted
        with SQL, or recorded before Stripe was configured)."""
        total = 0
        while True:
            with self._ctx.db.write() as conn:
                queued = store.enqueue_unqueued(conn)
            total += queued
            if queued == 0:
                return total

    def requeue_failed(self) -> int:
        with self._ctx.db.write() as conn:
            return store.requeue(conn)

    def requeue_unknown(self) -> int:
        """Queue again the events set aside as ``unknown`` (first sent over 24 h ago without
        an answer), once ``reconcile`` showed Stripe does not have them."""
        with self._ctx.db.write() as conn:
            return store.requeue(conn, statuses=(store.UNKNOWN,))

    def drain(
        self,
        *,
        max_events: int | None = None,
        max_retries: int = 5,
        claim_batch: int = CLAIM_BATCH,
        customer_id: str | None = None,
    ) -> DrainResult:
        """Send pending events until none is due (or ``max_events`` were handled). A retryable
        failure is retried with backoff up to ``max_retries`` times, then the rows are left
        pending with a next-attempt time and the drain stops. Up to ``concurrency`` requests
        are in flight at once (each acknowledged batch is marked sent on its own).
        ``customer_id`` sends only that customer's events (before its immediate cancel)."""
        remote = self._remote()
        result = DrainResult()
        token = uuid.uuid4().hex
        handled = 0
        pool = ThreadPoolExecutor(self._concurrency) if self._concurrency > 1 else None
        try:
            while max_events is None or handled < max_events:
                now = self._ctx.clock()
                limit = (
                    claim_batch if max_events is None else min(claim_batch, max_events - handled)
                )
                with self._ctx.db.write() as conn:
                    rows = store.claim(
                        conn,
                        now=now,
                        limit=limit,
                        lease=LEASE,
                        token=token,
                        customer_id=customer_id,
                    )
                if not rows:
                    break
                handled += len(rows)
                too_old = {r.id for r in rows if r.recorded_at < now - store.MAX_EVENT_AGE}
                if too_old:
                    with self._ctx.db.write() as conn:
                        store.mark_expired(
                            conn,
                            sorted(too_old),
                            reason=(
                                "older than the 35 days Stripe accepts: not sent, bill it by hand"
                            ),
                        )
                    result.expired += len(too_old)
                    self._ctx.log.warning(
                        "usage outbox: %d events older than 35 days", len(too_old)
                    )
                unknown = {
                    r.id
                    for r in rows
                    if r.id not in too_old
                    and r.first_attempt_at is not None
                    and r.first_attempt_at < now - store.IDENTIFIER_WINDOW
                }
                if unknown:
                    with self._ctx.db.write() as conn:
                        store.mark_unknown(
                            conn,
                            sorted(unknown),
                            reason=(
                                "first sent over 24 h ago without an answer: Stripe may have "
                                "counted it and no longer deduplicates it; not resent (check "
                                "with reconcile)"
                            ),
                        )
                    result.unknown += len(unknown)
                fresh = [r for r in rows if r.id not in too_old and r.id not in unknown]
                batches = [
                    fresh[i : i + REQUEST_BATCH] for i in range(0, len(fresh), REQUEST_BATCH)
                ]
                if pool is None:
                    outcomes = []
                    for batch in batches:
                        outcomes.append(self._send(remote, batch, max_retries=max_retries))
                        if outcomes[-1].stopped:
                            break
                else:
                    outcomes = list(
                        pool.map(lambda b: self._send(remote, b, max_retries=max_retries), batches)
                    )
                for outcome in outcomes:
                    result.sent += outcome.sent
                    result.failed += outcome.failed
                    result.requests += outcome.requests
                    result.retried_requests += outcome.retried
                    if outcome.error:
                        result.errors.append(outcome.error)
                    if outcome.stopped:
                        result.stopped_by = outcome.error
                if result.stopped_by:
                    break
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
            with self._ctx.db.write() as conn:
                store.release(conn, token)
        return result

    def _send(
        self, remote: RemoteBilling, batch: list[store.OutboxRow], *, max_retries: int
    ) -> _BatchOutcome:
        events = [
            MeterEvent(
                identifier=r.identifier,
                event_name=f"nself_{r.service}",
                customer_id=r.customer_id,
                value=from_micros(r.quantity_micros),
                timestamp=r.recorded_at,
            )
            for r in batch
        ]
        ids = [r.id for r in batch]
        outcome = _BatchOutcome()
        attempt = 0
        while True:
            try:
                outcome.requests += 1
                remote.send_meter_events(events)
            except ProviderError as error:
                if is_retryable(error) and attempt < max_retries:
                    attempt += 1
                    outcome.retried += 1
                    self._sleep(backoff_seconds(attempt))
                    continue
                refused_all = refuses_every_batch(error)
                with self._ctx.db.write() as conn:
                    if is_retryable(error) or refused_all:
                        # the account refuses every request (a revoked key, a missing
                        # permission): the events are fine, keep them for the next sync
                        store.mark_retry(
                            conn,
                            ids,
                            error=error.message,
                            next_attempt_at=self._ctx.clock()
                            + timedelta(seconds=backoff_seconds(attempt + 1, cap=300)),
                            now=self._ctx.clock(),
                            outcome_unknown=not refused_all,
                        )
                        outcome.stopped = True
                    else:
                        store.mark_failed(conn, ids, error=error.message)
                        outcome.failed = len(ids)
                outcome.error = error.message
                return outcome
            with self._ctx.db.write() as conn:
                store.mark_sent(conn, ids, now=self._ctx.clock())
            outcome.sent = len(ids)
            return outcome

    def run_worker(self, stop: threading.Event, *, idle_seconds: float = 5.0) -> None:
        """The background drainer of ``serve``: drain, then wait ``idle_seconds`` (or at once
        when the last drain had work) until ``stop`` is set. Failures are logged, never raised:
        the rows stay pending and the next round retries them."""
        while not stop.is_set():
            busy = False
            try:
                result = self.drain()
                busy = result.sent > 0 and result.stopped_by is None
                if result.stopped_by:
                    self._ctx.log.warning("usage outbox: %s", result.stopped_by)
            except BillingError as error:
                self._ctx.log.warning("usage outbox drain failed: %s", error.message)
            if not busy:
                stop.wait(idle_seconds)

    def reconcile(self, customer_id: str | None = None) -> list[ReconcileLine]:
        """Per live subscription and metered service: our total for the current period, what
        Stripe's meter event summaries say, and what is still queued."""
        remote = self._remote()
        with self._ctx.db.read() as conn:
            periods = subscription_store.current_periods(conn, RECONCILED_STATUSES, customer_id)
            ours_by = {
                (cid, start): usage_store.recorded_micros(conn, cid, start, end)
                for cid, start, end in periods
            }
            unsent_by = {
                (cid, start): store.unsent_totals(conn, cid, start, end)
                for cid, start, end in periods
            }
        lines: list[ReconcileLine] = []
        for cid, start, end in periods:
            ours = ours_by[(cid, start)]
            unsent = unsent_by[(cid, start)]
            for service in sorted(set(ours) | set(unsent)):
                theirs = remote.meter_event_total(service, cid, start, end)
                lines.append(
                    ReconcileLine(
                        cid,
                        service,
                        start,
                        end,
                        from_micros(ours.get(service, 0)),
                        theirs,
                        from_micros(unsent.get(service, 0)),
                    )
                )
        return lines
