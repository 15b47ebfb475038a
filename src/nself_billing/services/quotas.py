"""Quota use cases: effective limits (plan + per-customer overrides), status, check, enforce,
the atomic consume, and threshold alerts.

The quota period is the customer's monthly anniversary period (the subscription's current
period for monthly plans; a yearly plan's limits are still per month). Usage comes from the
per-day rollups, so every way of recording usage counts.

Two in-process caches keep the hot path to one indexed read:

- the effective limits of a customer (plan, overrides, period anchor) for ``limits_ttl`` seconds
  (default 1 s): a plan change or override made by *another process* takes effect within that
  bound; one made through this ``QuotaService`` takes effect at once;
- optionally (``usage_cache_seconds`` > 0, off by default) the usage read by ``enforce``. It is
  used for unlimited and soft quotas (a soft limit never blocks, so staleness only delays a
  warning or an alert), and for a hard limit only to repeat a *block*: usage never decreases
  within a period, so a cached block cannot admit anything. An *admit* under a hard limit is
  always decided on fresh usage. ``consume`` never uses it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from ..domain.customers import customer_id_problem
from ..domain.money import from_micros
from ..domain.periods import Period
from ..domain.quantities import (
    CHECK_MAX_QUANTITY,
    MAX_LIMIT,
    asked_micros,
    parse_quantity,
    parse_unit_price,
    quantity_and_micros,
)
from ..domain.quotas import QuotaBand, thresholds_crossed, thresholds_reached
from ..domain.services import SERVICE_NAMES, SERVICES, unit_of
from ..domain.subscriptions import FREE_PLAN, QuotaGrant, hard_limited, quota_grant
from ..domain.usage import (
    check_idempotency_key,
    check_service,
    is_plain_key,
    metadata_and_json,
)
from ..errors import (
    DatabaseError,
    IdempotencyConflict,
    InvalidInput,
    NotFound,
    PlanNotFound,
    UnknownService,
)
from ..store import catalog as catalog_store
from ..store import events
from ..store import quotas as store
from ..store import subscriptions as subscription_store
from ..store.quotas import AlertRecord as AlertRecord  # for the faces that render alerts
from .context import Context
from .current_customer import CurrentCustomer
from .events import QuotaEvents
from .quota_lines import CustomerLimits, EffectiveQuota, QuotaLine, effective_quotas
from .usage import new_key

__all__ = ["CustomerLimits", "EffectiveQuota", "QuotaLine", "QuotaService"]


class Decision(NamedTuple):
    """The answer of ``enforce``: ``reason`` is unlimited, available, soft_limit or hard_limit.
    (A named tuple: it is made on every request of a tenant's API.)"""

    allowed: bool
    reason: str
    service: str
    quantity_micros: int
    #: usage in the period before this request (None when unlimited: not read)
    usage_micros: int | None
    limit: Decimal | None

    @property
    def quantity(self) -> Decimal:
        return from_micros(self.quantity_micros)

    @property
    def usage(self) -> Decimal | None:
        return None if self.usage_micros is None else from_micros(self.usage_micros)


@dataclass(frozen=True)
class ConsumeResult:
    admitted: bool
    #: False for a blocked request and for a replayed idempotency key (admitted, not recounted)
    recorded: bool
    idempotency_key: str
    #: usage in the period after this call (None when unlimited: not read)
    usage: Decimal | None
    limit: Decimal | None
    replayed: bool = False


@dataclass(frozen=True)
class ConsumeRequest:
    """One ``consume`` call, for ``consume_many``."""

    service: str
    quantity: object = 1
    metadata: object = None
    idempotency_key: str | None = None
    customer_id: str | None = None


@dataclass(frozen=True)
class _Pending:
    """A validated consume request, ready to write."""

    customer_id: str
    service: str
    wanted: int
    key: str
    quota: EffectiveQuota
    period: Period
    arguments: dict[str, Any]


@dataclass
class _Alerting:
    """Alerts to record: (customer, service, threshold, period start) -> (usage, limit)."""

    pending: dict[tuple[str, str, int, datetime], tuple[Decimal, Decimal]] = field(
        default_factory=dict
    )

    def add(
        self,
        customer_id: str,
        service: str,
        thresholds: Iterable[int],
        period: Period,
        usage: Decimal,
        limit: Decimal,
    ) -> None:
        for threshold in thresholds:
            self.pending[(customer_id, service, threshold, period.start)] = (usage, limit)


class QuotaService:
    def __init__(
        self,
        ctx: Context,
        *,
        current: CurrentCustomer,
        reader: store.UsageReader,
        gate: store.WriterGate,
        queue_outbox: bool,
        limits_ttl: float = 1.0,
        usage_cache_seconds: float = 0.0,
    ) -> None:
        self._ctx = ctx
        self._current = current
        self.limits_ttl = limits_ttl
        self.usage_cache_seconds = usage_cache_seconds
        self._limits: dict[str, tuple[float, CustomerLimits]] = {}
        self._periods: dict[str, Period] = {}
        #: the hot path's own driver connections (built once by bootstrap.py, shared with the
        #: request path's usage summary) and the gate of its writes
        self._reader = reader
        self._gate = gate
        #: the Stripe engine gets consumed usage through the outbox, like recorded usage
        self._queue_outbox = queue_outbox
        #: PostgreSQL: wait for the WAL flush before answering a consume (see store.pg_consume)
        self.durable_consume = True
        self._usage: dict[tuple[str, str], tuple[float, Period, int]] = {}
        #: alerts known to be recorded, so the hot path does not write them again
        self._alerted: set[tuple[str, str, int, datetime]] = set()
        #: quota.threshold and quota.exceeded notifications (services.events)
        self._events = QuotaEvents(ctx)

    @property
    def reader(self) -> store.UsageReader:
        """The quota hot path's reads (shared with the request path's usage summary)."""
        return self._reader

    # -- limits ---------------------------------------------------------------------------

    def limits(self, customer_id: str | None = None, *, fresh: bool = False) -> CustomerLimits:
        """The customer's effective limits; ``NotFound`` without an active subscription.
        ``fresh`` skips the cache (the displays use it; the hot path does not)."""
        cid = customer_id or self._current.id()
        cached = None if fresh else self._limits.get(cid)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        problem = customer_id_problem(cid)
        if problem:  # e.g. a NUL from a query string: PostgreSQL could not even compare it
            raise InvalidInput(problem)
        with self._ctx.db.read() as conn:
            subscription = subscription_store.current_for(conn, cid)
            if subscription is None:
                raise NotFound("No active subscription")
            grant = quota_grant(subscription.status, subscription.period.start, self._ctx.clock())
            plan_name = FREE_PLAN if grant is QuotaGrant.FREE else subscription.plan_name
            plan = catalog_store.get_plan(conn, plan_name)
            overrides = store.overrides_for(conn, cid)
        if plan is None:
            raise PlanNotFound(plan_name)
        if grant is QuotaGrant.HARD:
            plan = hard_limited(plan)
        quotas = effective_quotas(plan, overrides)
        limits = CustomerLimits(
            cid, plan.name, subscription.anchor_at or subscription.period.start, quotas
        )
        self._limits[cid] = (time.monotonic() + self.limits_ttl, limits)
        return limits

    def invalidate(self, customer_id: str | None = None) -> None:
        """Forget cached limits and usage (of one customer, or all)."""
        if customer_id is None:
            self._limits.clear()
            self._usage.clear()
            self._periods.clear()
            return
        self._limits.pop(customer_id, None)
        self._periods.pop(customer_id, None)
        for key in [k for k in self._usage if k[0] == customer_id]:
            self._usage.pop(key, None)

    def set_override(
        self,
        service: str,
        limit: object,
        *,
        mode: str | None = None,
        overage_price: object = None,
        customer_id: str | None = None,
    ) -> EffectiveQuota:
        """Replace the plan's quota of one service for one customer. ``limit`` is a number or
        ``"unlimited"`` (or None); ``mode`` soft|hard keeps the plan's mode when omitted."""
        check_service(service)
        cid = customer_id or self._current_customer()
        unlimited = limit is None or (isinstance(limit, str) and limit.lower() == "unlimited")
        value = None if unlimited else parse_quantity(limit, MAX_LIMIT, what="limit")
        if mode is not None and mode not in ("soft", "hard"):
            raise InvalidInput(f"Invalid mode: {mode} (expected soft or hard)")
        price = None if overage_price is None else parse_unit_price(overage_price)
        self.limits(cid)  # the customer must have a subscription
        with self._ctx.db.write() as conn:
            store.set_override(
                conn, store.Override(cid, service, value, mode, price), now=self._ctx.clock()
            )
        self.invalidate(cid)
        self._ctx.log.info(
            "Quota override for %s: %s = %s%s",
            cid,
            service,
            "unlimited" if value is None else value,
            f" ({mode})" if mode else "",
        )
        return self.limits(cid).quotas[service]

    def clear_override(self, service: str, *, customer_id: str | None = None) -> bool:
        """Go back to the plan's quota; False if there was no override."""
        check_service(service)
        cid = customer_id or self._current_customer()
        with self._ctx.db.write() as conn:
            cleared = store.clear_override(conn, cid, service)
        self.invalidate(cid)
        if cleared:
            self._ctx.log.info("Quota override cleared for %s: %s", cid, service)
        return cleared

    # -- status ---------------------------------------------------------------------------

    def statuses(
        self,
        *,
        services: Iterable[str] | None = None,
        with_usage: bool = True,
        customer_id: str | None = None,
        fresh: bool = True,
    ) -> list[QuotaLine]:
        """The quotas (of every service, or of ``services``) with their usage this period.

        ``fresh`` False answers as ``enforce`` and ``consume`` decide: from the limits cached
        for ``limits_ttl`` and the usage of the quota hot path (one statement, no transaction,
        for one service or all of them); the HTTP quota API, which a gateway may call before
        every request it serves, reads this way."""
        chosen = (
            [check_service(s) for s in services] if services is not None else list(SERVICE_NAMES)
        )
        limits = self.limits(customer_id, fresh=fresh)
        period = limits.period(self._ctx.clock()) if fresh else self._period(limits)
        if not with_usage:
            return [QuotaLine(limits.quotas[s], period) for s in chosen]
        if not fresh:
            cid, first, end = limits.customer_id, period.first_day, period.end_day
            if len(chosen) == 1:
                used = {chosen[0]: self._reader.total_micros(cid, chosen[0], first, end)}
            else:
                used = self._reader.totals_micros(cid, first, end)
            return [QuotaLine(limits.quotas[s], period, from_micros(used[s])) for s in chosen]
        with self._ctx.db.read() as conn:
            used = {
                s: store.service_total_micros(
                    conn, limits.customer_id, s, period.first_day, period.end_day
                )
                for s in chosen
            }
        return [QuotaLine(limits.quotas[s], period, from_micros(used[s])) for s in chosen]

    def status(
        self, service: str, *, customer_id: str | None = None, fresh: bool = True
    ) -> QuotaLine:
        return self.statuses(services=[service], customer_id=customer_id, fresh=fresh)[0]

    def alerts(
        self, *, customer_id: str | None = None
    ) -> tuple[list[QuotaLine], list[store.AlertRecord]]:
        """Services at 75% or more, and the alerts recorded this period. Thresholds reached by
        usage recorded any other way are recorded first (idempotently)."""
        lines = self.statuses(customer_id=customer_id)
        limits = self.limits(customer_id)
        alerting = _Alerting()
        for line in lines:
            if line.quota.limit is not None and line.usage is not None:
                alerting.add(
                    limits.customer_id,
                    line.service,
                    thresholds_reached(line.usage, line.quota.limit),
                    line.period,
                    line.usage,
                    line.quota.limit,
                )
        self._record_alerts(alerting, force=True)
        period = limits.period(self._ctx.clock())
        with self._ctx.db.read() as conn:
            records = store.alerts_for(conn, limits.customer_id, period.start)
        hot = [
            line
            for line in lines
            if line.quota.limit is not None
            and line.band in (QuotaBand.WARNING, QuotaBand.CRITICAL, QuotaBand.OVER)
        ]
        return hot, records

    # -- check, enforce, consume ------------------------------------------------------------

    def check(self, service: str, quantity: object = 1, *, customer_id: str | None = None) -> bool:
        """Would ``quantity`` more stay within the quota (whatever its mode)?"""
        if service not in SERVICES:
            raise UnknownService(service, SERVICE_NAMES)
        wanted = _wanted_micros(quantity)
        limits = self.limits(customer_id)
        quota = limits.quotas[service]
        if quota.limit is None:
            return True
        period = self._period(limits)
        used = self._read_used(limits.customer_id, service, period)
        return used + wanted <= (quota.limit_micros or 0)

    def enforce(
        self, service: str, quantity: object = 1, *, customer_id: str | None = None
    ) -> Decision:
        """The spec's ``quota_enforce``: a check that never records usage. A soft limit admits
        (logging a warning and recording the 100% alert); a hard limit blocks."""
        if service not in SERVICES:
            raise UnknownService(service, SERVICE_NAMES)
        wanted = _wanted_micros(quantity)
        limits = self.limits(customer_id)
        quota = limits.quotas[service]
        if quota.limit is None:
            return Decision(True, "unlimited", service, wanted, None, None)
        limit = quota.limit_micros or 0
        cid = limits.customer_id
        cached = self._usage.get((cid, service)) if self.usage_cache_seconds > 0 else None
        if (
            cached is not None
            and cached[0] > time.monotonic()
            and (not quota.is_hard or cached[2] + wanted > limit)
        ):
            # within the cache's bound (the period too: a rollover is seen when it expires);
            # under a hard limit only a block is repeated, an admit reads fresh usage
            period, used = cached[1], cached[2]
        else:
            period = self._period(limits)
            used = self._read_used(cid, service, period)
            if self.usage_cache_seconds > 0:
                self._usage[(cid, service)] = (
                    time.monotonic() + self.usage_cache_seconds,
                    period,
                    used,
                )
        if used + wanted <= limit:
            allowed, reason = True, "available"
        elif quota.is_hard:
            allowed, reason = False, "hard_limit"
        else:
            allowed, reason = True, "soft_limit"
        if reason == "soft_limit":
            self._ctx.log.warning(
                "Quota exceeded for %s (soft limit): customer %s, %s + %s of %s %s",
                service,
                cid,
                from_micros(used),
                from_micros(wanted),
                quota.limit,
                quota.unit,
            )
        if reason != "available" or used * 4 >= limit * 3:  # 75%: the first alert threshold
            usage = from_micros(used)
            reached = thresholds_reached(usage, quota.limit)
            if reason != "available" and 100 not in reached:
                reached.append(100)
            if reached:
                alerting = _Alerting()
                alerting.add(cid, service, reached, period, usage, quota.limit)
                self._record_alerts(alerting)
        if not allowed:
            self._events.exceeded(
                customer_id=cid, service=service, usage=from_micros(used), limit=quota.limit
            )
        return Decision(allowed, reason, service, wanted, used, quota.limit)

    def consume(
        self,
        service: str,
        quantity: object = 1,
        metadata: object = None,
        *,
        idempotency_key: str | None = None,
        customer_id: str | None = None,
    ) -> ConsumeResult:
        """Check and record in one transaction: never admits past a hard limit, whatever the
        number of concurrent callers, and every admitted unit is recorded with its rollup.

        The check and the insert are serialized per (customer, service): on PostgreSQL by a
        transaction-level advisory lock taken before usage is read (READ COMMITTED gives the
        read after the lock a fresh snapshot, so it sees every earlier consume; see
        ``store.quotas.pg_consume``), on SQLite by the BEGIN IMMEDIATE write transaction, which
        admits one writer at a time (``store.events.sqlite_consume``). A replayed
        ``idempotency_key`` (the customer's, with the same service and quantity) is admitted
        again without counting twice; the same key with another service or quantity raises
        ``IdempotencyConflict`` and writes nothing."""
        pending = self._prepare(
            ConsumeRequest(service, quantity, metadata, idempotency_key, customer_id),
            self._ctx.clock(),
        )
        arguments = pending.arguments
        if self._ctx.db.is_postgresql:
            row = events.pg_consume(self._reader, durable=self.durable_consume, **arguments)
        else:
            with self._gate.hold():
                row = events.sqlite_consume(self._reader, **arguments)
        return self._finish(pending, row)

    def consume_many(self, requests: Sequence[ConsumeRequest]) -> list[ConsumeResult | Exception]:
        """Several consumes, each answered exactly as ``consume`` would answer it had they come
        one after the other in this order (a request's error is its answer, not the group's:
        a request that fails, for whatever reason, fails alone and the others are written).

        On PostgreSQL the group is one transaction, one round trip and one WAL flush
        (``store.events.pg_consume_many``): the HTTP service sends the requests that arrived
        while its previous group was being written (group commit). If the group cannot be
        written, each request is consumed on its own (with the key it was given, so nothing
        counts twice), and one bad request never fails another.
        On SQLite the requests are consumed one by one."""
        if not self._ctx.db.is_postgresql or len(requests) < 2:
            return [self._answer(request) for request in requests]
        now = self._ctx.clock()
        answers: list[ConsumeResult | Exception | None] = []
        pending: list[_Pending] = []
        for request in requests:
            try:
                pending.append(self._prepare(request, now))
                answers.append(None)
            except Exception as error:
                answers.append(error)
        try:
            rows: list[events.ConsumeRow] | None = (
                events.pg_consume_many(
                    self._reader,
                    [p.arguments for p in pending],
                    now=now,
                    queue_outbox=self._queue_outbox,
                    durable=self.durable_consume,
                )
                if pending
                else []
            )
        except DatabaseError:
            rows = None
        written = iter(
            [self._write_alone(p) for p in pending]
            if rows is None
            else [self._settle(p, row) for p, row in zip(pending, rows, strict=True)]
        )
        return [answer if answer is not None else next(written) for answer in answers]

    def _write_alone(self, pending: _Pending) -> ConsumeResult | Exception:
        """One request of a group that could not be written as a group, with the key it was
        given (looked up: the group may have committed before its answer was lost)."""
        try:
            row = events.pg_consume(
                self._reader,
                durable=self.durable_consume,
                **(pending.arguments | {"check_key": True}),
            )
        except Exception as error:
            return error
        return self._settle(pending, row)

    def _settle(self, pending: _Pending, row: events.ConsumeRow) -> ConsumeResult | Exception:
        try:
            return self._finish(pending, row)
        except Exception as error:
            return error

    def _answer(self, request: ConsumeRequest) -> ConsumeResult | Exception:
        try:
            return self.consume(
                request.service,
                request.quantity,
                request.metadata,
                idempotency_key=request.idempotency_key,
                customer_id=request.customer_id,
            )
        except Exception as error:
            return error

    def _prepare(self, request: ConsumeRequest, now: datetime) -> _Pending:
        """Validate a consume request and resolve its customer, quota and period."""
        service = request.service
        if service not in SERVICES:
            raise UnknownService(service, SERVICE_NAMES)
        quantity, wanted = quantity_and_micros(request.quantity)
        if request.metadata is None or request.metadata == "":
            meta, meta_json = _EMPTY, "{}"
        else:
            meta, meta_json = metadata_and_json(request.metadata)
        given = request.idempotency_key
        if given is not None and not is_plain_key(given):
            check_idempotency_key(given)
        limits = self.limits(request.customer_id)
        cid = limits.customer_id
        quota = limits.quotas[service]
        period = self._period(limits)
        # the same generated keys as a recorded event's; one just generated needs no lookup
        key = given or new_key()
        arguments: dict[str, Any] = dict(
            customer_id=cid,
            service=service,
            quantity=quantity,
            micros=wanted,
            metadata=meta,
            metadata_json=meta_json,
            recorded_at=now,
            key=key,
            now=now,
            first_day=period.first_day,
            end_day=period.end_day,
            limit_micros=quota.limit_micros,
            hard=quota.is_hard,
            check_key=given is not None,
        )
        if self._queue_outbox:
            arguments["queue_outbox"] = True
        return _Pending(cid, service, wanted, key, quota, period, arguments)

    def _finish(self, pending: _Pending, row: events.ConsumeRow) -> ConsumeResult:
        """The answer to a written consume, with its alerts."""
        if row.conflict:
            raise IdempotencyConflict(pending.key, service=pending.service)
        cid, service, wanted, key, quota, period = (
            pending.customer_id,
            pending.service,
            pending.wanted,
            pending.key,
            pending.quota,
            pending.period,
        )
        limit = quota.limit_micros
        used = row.used_micros
        blocked = (
            not row.inserted and quota.is_hard and limit is not None and (used + wanted > limit)
        )
        if row.replayed or (not row.inserted and not blocked):
            return ConsumeResult(True, False, key, None, quota.limit, replayed=True)
        if quota.limit is None or limit is None:
            return ConsumeResult(True, True, key, None, None)
        alerting = _Alerting()
        if blocked:
            if (cid, service, 100, period.start) not in self._alerted:
                alerting.add(cid, service, [100], period, from_micros(used), quota.limit)
                self._record_alerts(alerting)
            self._events.exceeded(
                customer_id=cid, service=service, usage=from_micros(used), limit=quota.limit
            )
            return ConsumeResult(False, False, key, from_micros(used), quota.limit)
        after = used + wanted
        if after * 4 >= limit * 3:  # 75%: the first alert threshold
            crossed = thresholds_crossed(from_micros(used), from_micros(after), quota.limit)
            if crossed:
                alerting.add(cid, service, crossed, period, from_micros(after), quota.limit)
                self._record_alerts(alerting, force=True)
        if after > limit:
            self._ctx.log.warning(
                "Quota exceeded for %s (soft limit): customer %s, %s of %s %s",
                service,
                cid,
                from_micros(after),
                quota.limit,
                quota.unit,
            )
        return ConsumeResult(True, True, key, from_micros(after), quota.limit)

    # -- internals --------------------------------------------------------------------------

    def _current_customer(self) -> str:
        return self._current.id()

    def _period(self, limits: CustomerLimits) -> Period:
        """The customer's current quota period, recomputed only when the clock leaves it."""
        now = self._ctx.clock()
        period = self._periods.get(limits.customer_id)
        if period is None or not period.start <= now < period.end:
            period = limits.period(now)
            self._periods[limits.customer_id] = period
        return period

    def _read_used(self, customer_id: str, service: str, period: Period) -> int:
        return self._reader.total_micros(customer_id, service, period.first_day, period.end_day)

    def _record_alerts(self, alerting: _Alerting, *, force: bool = False) -> None:
        if not force:
            for key in [k for k in alerting.pending if k in self._alerted]:
                del alerting.pending[key]
        if not alerting.pending:
            return
        with self._ctx.db.write() as conn:
            self._write_alerts(conn, alerting, self._ctx.clock())
        self._log_alerts(alerting)

    def _write_alerts(self, conn: Any, alerting: _Alerting, now: datetime) -> None:
        """Insert the pending alerts; keep pending only those this call recorded first."""
        for key, (usage, limit) in list(alerting.pending.items()):
            customer_id, service, threshold, period_start = key
            inserted = store.record_alert(
                conn,
                store.AlertRecord(
                    customer_id, service, threshold, period_start, usage, limit, None
                ),
                now=now,
            )
            self._alerted.add(key)
            if not inserted:
                del alerting.pending[key]
            else:
                self._events.threshold(
                    conn,
                    customer_id=customer_id,
                    service=service,
                    threshold=threshold,
                    period_start=period_start,
                    usage=usage,
                    limit=limit,
                    unit=unit_of(service),
                )

    def _log_alerts(self, alerting: _Alerting) -> None:
        for (customer_id, service, threshold, period_start), (usage, limit) in sorted(
            alerting.pending.items(), key=lambda item: (item[0][1], item[0][2])
        ):
            self._ctx.log.warning(
                "Quota alert: %s reached %d%% of its quota for customer %s (%s of %s %s, "
                "period from %s)",
                service,
                threshold,
                customer_id,
                usage,
                limit,
                unit_of(service),
                period_start.date().isoformat(),
            )


_EMPTY: dict[str, Any] = {}


def _wanted_micros(quantity: object) -> int:
    """The quantity asked about by ``check``/``enforce`` in micro-units (the one quantity
    reader; rounded to 6 places, as nothing is stored; up to ``CHECK_MAX_QUANTITY``)."""
    return asked_micros(quantity, CHECK_MAX_QUANTITY)
