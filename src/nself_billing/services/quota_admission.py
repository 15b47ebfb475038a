"""Quota admission: ``check`` and ``enforce`` (would this request fit its quota?) and the
atomic ``consume`` (check and record in one step, never past a hard limit), alone or as a
group commit (``consume_many``).

The limits come from ``QuotaLimits`` (cached for a second). Optionally (``usage_cache_seconds``
> 0, off by default) the usage read by ``enforce`` is cached too. It is used for unlimited and
soft quotas (a soft limit never blocks, so staleness only delays a warning or an alert), and
for a hard limit only to repeat a *block*: usage never decreases within a period, so a cached
block cannot admit anything. An *admit* under a hard limit is always decided on fresh usage.
``consume`` never uses it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from ..domain.money import from_micros
from ..domain.periods import Period
from ..domain.quantities import CHECK_MAX_QUANTITY, asked_micros, quantity_and_micros
from ..domain.quotas import thresholds_crossed, thresholds_reached
from ..domain.services import SERVICE_NAMES, SERVICES
from ..domain.usage import check_idempotency_key, is_plain_key, metadata_and_json
from ..errors import DatabaseError, IdempotencyConflict, UnknownService
from ..store import events
from ..store.hot_path import UsageReader, WriterGate
from .context import Context
from .quota_alerts import AlertBatch, QuotaAlerts
from .quota_limits import QuotaLimits
from .quota_lines import CustomerLimits, EffectiveQuota
from .usage import new_key


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


class QuotaAdmission:
    def __init__(
        self,
        ctx: Context,
        limits: QuotaLimits,
        alerts: QuotaAlerts,
        reader: UsageReader,
        *,
        gate: WriterGate,
        queue_outbox: bool,
        usage_cache_seconds: float = 0.0,
    ) -> None:
        self._ctx = ctx
        self._limits = limits
        self._alerts = alerts
        self._reader = reader
        self._gate = gate
        self.usage_cache_seconds = usage_cache_seconds
        self._usage: dict[tuple[str, str], tuple[float, Period, int]] = {}
        #: the Stripe engine gets consumed usage through the outbox, like recorded usage
        self._queue_outbox = queue_outbox
        #: PostgreSQL: wait for the WAL flush before answering a consume (see store.pg_consume)
        self.durable_consume = True

    def forget(self, customer_id: str | None = None) -> None:
        """Forget the cached usage (of one customer, or all)."""
        if customer_id is None:
            self._usage.clear()
            return
        for key in [k for k in self._usage if k[0] == customer_id]:
            self._usage.pop(key, None)

    def _asked(
        self, service: str, quantity: object, customer_id: str | None
    ) -> tuple[int, CustomerLimits, EffectiveQuota]:
        """What ``check`` and ``enforce`` are asked: the quantity (micro-units), the customer's
        limits and the service's quota."""
        if service not in SERVICES:
            raise UnknownService(service, SERVICE_NAMES)
        limits = self._limits.limits(customer_id)
        return _wanted_micros(quantity), limits, limits.quotas[service]

    def check(self, service: str, quantity: object = 1, *, customer_id: str | None = None) -> bool:
        """Would ``quantity`` more stay within the quota (whatever its mode)?"""
        wanted, limits, quota = self._asked(service, quantity, customer_id)
        if quota.limit is None:
            return True
        period = self._limits.period(limits)
        used = self._read_used(limits.customer_id, service, period)
        return used + wanted <= (quota.limit_micros or 0)

    def enforce(
        self, service: str, quantity: object = 1, *, customer_id: str | None = None
    ) -> Decision:
        """The spec's ``quota_enforce``: a check that never records usage. A soft limit admits
        (logging a warning and recording the 100% alert); a hard limit blocks."""
        wanted, limits, quota = self._asked(service, quantity, customer_id)
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
            period = self._limits.period(limits)
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
                alerting = AlertBatch()
                alerting.add(cid, service, reached, period, usage, quota.limit)
                self._alerts.record(alerting)
        if not allowed:
            self._alerts.exceeded(
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
        ``store.events.pg_consume``), on SQLite by the BEGIN IMMEDIATE write transaction, which
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
        limits = self._limits.limits(request.customer_id)
        cid = limits.customer_id
        quota = limits.quotas[service]
        period = self._limits.period(limits)
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
        alerting = AlertBatch()
        if blocked:
            if not self._alerts.known((cid, service, 100, period.start)):
                alerting.add(cid, service, [100], period, from_micros(used), quota.limit)
                self._alerts.record(alerting)
            self._alerts.exceeded(
                customer_id=cid, service=service, usage=from_micros(used), limit=quota.limit
            )
            return ConsumeResult(False, False, key, from_micros(used), quota.limit)
        after = used + wanted
        if after * 4 >= limit * 3:  # 75%: the first alert threshold
            crossed = thresholds_crossed(from_micros(used), from_micros(after), quota.limit)
            if crossed:
                alerting.add(cid, service, crossed, period, from_micros(after), quota.limit)
                self._alerts.record(alerting, force=True)
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

    def _read_used(self, customer_id: str, service: str, period: Period) -> int:
        return self._reader.total_micros(customer_id, service, period.first_day, period.end_day)


_EMPTY: dict[str, Any] = {}


def _wanted_micros(quantity: object) -> int:
    """The quantity asked about by ``check``/``enforce`` in micro-units (the one quantity
    reader; rounded to 6 places, as nothing is stored; up to ``CHECK_MAX_QUANTITY``)."""
    return asked_micros(quantity, CHECK_MAX_QUANTITY)
