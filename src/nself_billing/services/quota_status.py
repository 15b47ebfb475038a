"""Quota status: each service's quota with its usage this period, and the services at 75 %
or more with the alerts recorded this period."""

from __future__ import annotations

from collections.abc import Iterable

from ..domain.money import from_micros
from ..domain.quotas import QuotaBand, thresholds_reached
from ..domain.services import SERVICE_NAMES
from ..domain.usage import check_service
from ..store import usage as usage_store
from ..store.hot_path import UsageReader
from ..store.quotas import AlertRecord
from .context import Context
from .quota_alerts import AlertBatch, QuotaAlerts
from .quota_limits import QuotaLimits
from .quota_lines import QuotaLine


class QuotaStatuses:
    def __init__(
        self, ctx: Context, limits: QuotaLimits, alerts: QuotaAlerts, reader: UsageReader
    ) -> None:
        self._ctx = ctx
        self._limits = limits
        self._alerts = alerts
        self._reader = reader

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
        limits = self._limits.limits(customer_id, fresh=fresh)
        period = limits.period(self._ctx.clock()) if fresh else self._limits.period(limits)
        if not with_usage:
            return [QuotaLine(limits.quotas[s], period) for s in chosen]
        cid, first, end = limits.customer_id, period.first_day, period.end_day
        if not fresh:
            if len(chosen) == 1:
                used = {chosen[0]: self._reader.total_micros(cid, chosen[0], first, end)}
            else:
                used = self._reader.totals_micros(cid, first, end)
        else:
            with self._ctx.db.read() as conn:
                used = {
                    s: usage_store.service_total_micros(conn, cid, s, first, end) for s in chosen
                }
        return [QuotaLine(limits.quotas[s], period, from_micros(used[s])) for s in chosen]

    def status(
        self, service: str, *, customer_id: str | None = None, fresh: bool = True
    ) -> QuotaLine:
        return self.statuses(services=[service], customer_id=customer_id, fresh=fresh)[0]

    def alerts(
        self, *, customer_id: str | None = None
    ) -> tuple[list[QuotaLine], list[AlertRecord]]:
        """Services at 75% or more, and the alerts recorded this period. Thresholds reached by
        usage recorded any other way are recorded first (idempotently)."""
        lines = self.statuses(customer_id=customer_id)
        limits = self._limits.limits(customer_id)
        batch = AlertBatch()
        for line in lines:
            if line.quota.limit is not None and line.usage is not None:
                batch.add(
                    limits.customer_id,
                    line.service,
                    thresholds_reached(line.usage, line.quota.limit),
                    line.period,
                    line.usage,
                    line.quota.limit,
                )
        self._alerts.record(batch, force=True)
        period = limits.period(self._ctx.clock())
        records = self._alerts.recorded(limits.customer_id, period.start)
        hot = [
            line
            for line in lines
            if line.quota.limit is not None
            and line.band in (QuotaBand.WARNING, QuotaBand.CRITICAL, QuotaBand.OVER)
        ]
        return hot, records
