"""Quota alerts: recording that a customer reached 75, 90 or 100 % of a quota (once per
customer, service, threshold and period, with its ``quota.threshold`` notification and a log
line), the ``quota.exceeded`` notification of a blocked request, and the alerts recorded."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..domain.periods import Period
from ..domain.services import unit_of
from ..store import quotas as store
from ..store.quotas import AlertRecord
from .context import Context
from .events import QuotaEvents

#: an alert: (customer, service, threshold, period start)
AlertKey = tuple[str, str, int, datetime]


@dataclass
class AlertBatch:
    """Alerts to record: (customer, service, threshold, period start) -> (usage, limit)."""

    pending: dict[AlertKey, tuple[Decimal, Decimal]] = field(default_factory=dict)

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


class QuotaAlerts:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        #: alerts known to be recorded, so the hot path does not write them again
        self._alerted: set[AlertKey] = set()
        #: quota.threshold and quota.exceeded notifications (services.events)
        self._events = QuotaEvents(ctx)

    def known(self, key: AlertKey) -> bool:
        """Is this alert known to be recorded (by this process)?"""
        return key in self._alerted

    def record(self, batch: AlertBatch, *, force: bool = False) -> None:
        """Record the batch's alerts (those known to be recorded only with ``force``), notify
        and log the ones this call recorded first."""
        if not force:
            for key in [k for k in batch.pending if k in self._alerted]:
                del batch.pending[key]
        if not batch.pending:
            return
        with self._ctx.db.write() as conn:
            self._write(conn, batch, self._ctx.clock())
        self._log(batch)

    def exceeded(self, *, customer_id: str, service: str, usage: Decimal, limit: Decimal) -> None:
        """A request was blocked by a hard limit (``quota.exceeded``, at most hourly)."""
        self._events.exceeded(customer_id=customer_id, service=service, usage=usage, limit=limit)

    def recorded(self, customer_id: str, period_start: datetime) -> list[AlertRecord]:
        """The alerts recorded for a customer's period."""
        with self._ctx.db.read() as conn:
            return store.alerts_for(conn, customer_id, period_start)

    def _write(self, conn: Any, batch: AlertBatch, now: datetime) -> None:
        """Insert the pending alerts; keep pending only those this call recorded first."""
        for key, (usage, limit) in list(batch.pending.items()):
            customer_id, service, threshold, period_start = key
            inserted = store.record_alert(
                conn,
                AlertRecord(customer_id, service, threshold, period_start, usage, limit, None),
                now=now,
            )
            self._alerted.add(key)
            if not inserted:
                del batch.pending[key]
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

    def _log(self, batch: AlertBatch) -> None:
        for (customer_id, service, threshold, period_start), (usage, limit) in sorted(
            batch.pending.items(), key=lambda item: (item[0][1], item[0][2])
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
