"""What a quota read answers: a customer's effective limits and each service's status line.
Plain values over the domain (no store, no SQLAlchemy), so the start-up read path
(services/quick_reads.py) builds the same lines as ``QuotaService``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..domain.periods import Period, period_at
from ..domain.plans import EnforcementMode, Plan
from ..domain.quotas import QuotaBand, QuotaStatus
from ..domain.services import SERVICE_NAMES, unit_of
from ..domain.usage import micros_of


@dataclass(frozen=True)
class EffectiveQuota:
    """A customer's limit for one service: the plan's, unless an override replaces it."""

    service: str
    #: None means unlimited
    limit: Decimal | None
    mode: EnforcementMode
    overage_price: Decimal
    #: "plan", "override", or "none" (no quota row: unlimited)
    source: str

    #: the limit in micro-units (None when unlimited), for the hot path's integer compare
    limit_micros: int | None = field(init=False, compare=False)
    #: a hard limit that exists (an unlimited quota never blocks, whatever its mode)
    is_hard: bool = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "limit_micros", None if self.limit is None else micros_of(self.limit)
        )
        object.__setattr__(
            self, "is_hard", self.mode is EnforcementMode.HARD and self.limit is not None
        )

    @property
    def unit(self) -> str:
        return unit_of(self.service)


@dataclass(frozen=True)
class CustomerLimits:
    customer_id: str
    plan_name: str
    #: the subscription's anchor: quota periods are monthly anniversaries of it
    anchor: datetime
    quotas: dict[str, EffectiveQuota]

    def period(self, now: datetime) -> Period:
        return period_at(self.anchor, now, 1)


@dataclass(frozen=True)
class QuotaLine:
    """One service's quota and (when asked) its usage in the current period."""

    quota: EffectiveQuota
    period: Period
    usage: Decimal | None = None

    @property
    def service(self) -> str:
        return self.quota.service

    @property
    def status(self) -> QuotaStatus:
        return QuotaStatus(
            self.service, self.usage or Decimal(0), self.quota.limit, self.quota.mode.value
        )

    @property
    def percent(self) -> int:
        return self.status.percent

    @property
    def band(self) -> QuotaBand:
        return self.status.band

    @property
    def available(self) -> Decimal | None:
        return self.status.available


def effective_quotas(plan: Plan, overrides: Mapping[str, Any]) -> dict[str, EffectiveQuota]:
    """Each service's limit for a customer: the plan's, unless an override (with ``limit``,
    ``mode`` and ``overage_price``) replaces it."""
    quotas = {}
    for service in SERVICE_NAMES:
        quota = plan.quota_for(service)
        source = "plan" if any(q.service == service for q in plan.quotas) else "none"
        effective = EffectiveQuota(service, quota.limit, quota.mode, quota.overage_price, source)
        override = overrides.get(service)
        if override is not None:
            effective = EffectiveQuota(
                service,
                override.limit,
                EnforcementMode(override.mode) if override.mode else quota.mode,
                quota.overage_price if override.overage_price is None else override.overage_price,
                "override",
            )
        quotas[service] = effective
    return quotas
