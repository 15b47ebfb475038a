"""The quota use cases as one service (``Billing.quotas``): limits (``quota_limits.py``),
status (``quota_status.py``) and admission (``quota_admission.py``), which share the
customer's cached limits, the recorded alerts (``quota_alerts.py``) and the hot path's
driver connections (``store/hot_path.UsageReader``).

The quota period is the customer's monthly anniversary period (the subscription's current
period for monthly plans; a yearly plan's limits are still per month). Usage comes from the
per-day rollups, so every way of recording usage counts.
"""

from __future__ import annotations

from ..store.hot_path import UsageReader, WriterGate
from ..store.quotas import AlertRecord as AlertRecord  # for the faces that render alerts
from .context import Context
from .current_customer import CurrentCustomer
from .quota_admission import ConsumeRequest, ConsumeResult, Decision, QuotaAdmission
from .quota_alerts import QuotaAlerts
from .quota_limits import QuotaLimits
from .quota_lines import CustomerLimits, EffectiveQuota, QuotaLine
from .quota_status import QuotaStatuses

__all__ = [
    "AlertRecord",
    "ConsumeRequest",
    "ConsumeResult",
    "CustomerLimits",
    "Decision",
    "EffectiveQuota",
    "QuotaLine",
    "QuotaService",
]


class QuotaService:
    def __init__(
        self,
        ctx: Context,
        *,
        current: CurrentCustomer,
        reader: UsageReader,
        gate: WriterGate,
        queue_outbox: bool,
        limits_ttl: float = 1.0,
        usage_cache_seconds: float = 0.0,
    ) -> None:
        #: the hot path's own driver connections (built once by bootstrap.py, shared with the
        #: request path's usage summary)
        self._reader = reader
        self._limits = QuotaLimits(ctx, current=current, ttl=limits_ttl)
        alerts = QuotaAlerts(ctx)
        self._admission = QuotaAdmission(
            ctx,
            self._limits,
            alerts,
            self._reader,
            gate=gate,
            queue_outbox=queue_outbox,
            usage_cache_seconds=usage_cache_seconds,
        )
        self._status = QuotaStatuses(ctx, self._limits, alerts, self._reader)
        self._limits.listeners.append(self._admission.forget)
        # the use cases are the parts' own methods (no call in between on the hot path)
        #: limits: the customer's effective limits, forgetting them, overrides
        self.limits = self._limits.limits
        self.invalidate = self._limits.invalidate
        self.set_override = self._limits.set_override
        self.clear_override = self._limits.clear_override
        #: status: each service's line, one service's, the services at 75 % and the alerts
        self.statuses = self._status.statuses
        self.status = self._status.status
        self.alerts = self._status.alerts
        #: admission: would it fit, the spec's enforce, the atomic consume (alone or grouped)
        self.check = self._admission.check
        self.enforce = self._admission.enforce
        self.consume = self._admission.consume
        self.consume_many = self._admission.consume_many

    @property
    def reader(self) -> UsageReader:
        """The quota hot path's reads (shared with the request path's usage summary)."""
        return self._reader

    # -- settings of the parts ------------------------------------------------------------

    @property
    def limits_ttl(self) -> float:
        """How long a customer's limits are cached (seconds)."""
        return self._limits.ttl

    @limits_ttl.setter
    def limits_ttl(self, seconds: float) -> None:
        self._limits.ttl = seconds

    @property
    def usage_cache_seconds(self) -> float:
        """How long ``enforce`` may reuse a usage read (0: never)."""
        return self._admission.usage_cache_seconds

    @usage_cache_seconds.setter
    def usage_cache_seconds(self, seconds: float) -> None:
        self._admission.usage_cache_seconds = seconds

    @property
    def durable_consume(self) -> bool:
        """PostgreSQL: answer a consume only once its write is flushed."""
        return self._admission.durable_consume

    @durable_consume.setter
    def durable_consume(self, durable: bool) -> None:
        self._admission.durable_consume = durable
