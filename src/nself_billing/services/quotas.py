"""The quota use cases as one service (``Billing.quotas``): limits (``quota_limits.py``),
status (``quota_status.py``) and admission (``quota_admission.py``), which share the
customer's cached limits, the recorded alerts (``quota_alerts.py``) and the hot path's
driver connections (``store/hot_path.UsageReader``).

The quota period is the customer's monthly anniversary period (the subscription's current
period for monthly plans; a yearly plan's limits are still per month). Usage comes from the
per-day rollups, so every way of recording usage counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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

    # -- limits ---------------------------------------------------------------------------

    def limits(self, customer_id: str | None = None, *, fresh: bool = False) -> CustomerLimits:
        return self._limits.limits(customer_id, fresh=fresh)

    def invalidate(self, customer_id: str | None = None) -> None:
        """Forget cached limits and usage (of one customer, or all)."""
        self._limits.invalidate(customer_id)

    def set_override(
        self,
        service: str,
        limit: object,
        *,
        mode: str | None = None,
        overage_price: object = None,
        customer_id: str | None = None,
    ) -> EffectiveQuota:
        return self._limits.set_override(
            service, limit, mode=mode, overage_price=overage_price, customer_id=customer_id
        )

    def clear_override(self, service: str, *, customer_id: str | None = None) -> bool:
        return self._limits.clear_override(service, customer_id=customer_id)

    # -- status ---------------------------------------------------------------------------

    def statuses(
        self,
        *,
        services: Iterable[str] | None = None,
        with_usage: bool = True,
        customer_id: str | None = None,
        fresh: bool = True,
    ) -> list[QuotaLine]:
        return self._status.statuses(
            services=services, with_usage=with_usage, customer_id=customer_id, fresh=fresh
        )

    def status(
        self, service: str, *, customer_id: str | None = None, fresh: bool = True
    ) -> QuotaLine:
        return self._status.status(service, customer_id=customer_id, fresh=fresh)

    def alerts(
        self, *, customer_id: str | None = None
    ) -> tuple[list[QuotaLine], list[AlertRecord]]:
        return self._status.alerts(customer_id=customer_id)

    # -- admission ------------------------------------------------------------------------

    def check(self, service: str, quantity: object = 1, *, customer_id: str | None = None) -> bool:
        return self._admission.check(service, quantity, customer_id=customer_id)

    def enforce(
        self, service: str, quantity: object = 1, *, customer_id: str | None = None
    ) -> Decision:
        return self._admission.enforce(service, quantity, customer_id=customer_id)

    def consume(
        self,
        service: str,
        quantity: object = 1,
        metadata: object = None,
        *,
        idempotency_key: str | None = None,
        customer_id: str | None = None,
    ) -> ConsumeResult:
        return self._admission.consume(
            service,
            quantity,
            metadata,
            idempotency_key=idempotency_key,
            customer_id=customer_id,
        )

    def consume_many(self, requests: Sequence[ConsumeRequest]) -> list[ConsumeResult | Exception]:
        return self._admission.consume_many(requests)
