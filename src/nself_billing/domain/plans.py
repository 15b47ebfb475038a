"""Plans and their quotas, and the default catalog seeded on first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from .services import SERVICE_NAMES, unit_of


class EnforcementMode(StrEnum):
    SOFT = "soft"
    HARD = "hard"


@dataclass(frozen=True)
class Quota:
    """A plan's limit for one service per billing period. ``limit`` None means unlimited."""

    plan_name: str
    service: str
    limit: Decimal | None
    mode: EnforcementMode = EnforcementMode.SOFT
    overage_price: Decimal = Decimal(0)

    @property
    def unit(self) -> str:
        return unit_of(self.service)

    @property
    def unlimited(self) -> bool:
        return self.limit is None


@dataclass(frozen=True)
class Plan:
    name: str
    #: None means a custom price, negotiated outside the tool (shown as "Custom")
    price_monthly: Decimal | None
    price_yearly: Decimal | None
    description: str = ""
    #: rank used to tell an upgrade from a downgrade
    tier: int = 0
    stripe_price_id: str | None = None
    quotas: tuple[Quota, ...] = field(default=())

    @property
    def display_name(self) -> str:
        return self.name.capitalize()

    @property
    def is_custom(self) -> bool:
        return self.price_monthly is None

    @property
    def rank(self) -> tuple[int, Decimal]:
        """Plans are ordered by tier, then price (a custom price ranks above any set price):
        a higher rank is an upgrade."""
        return self.tier, (
            self.price_monthly if self.price_monthly is not None else Decimal("Infinity")
        )

    def quota_for(self, service: str) -> Quota:
        """The plan's quota for a service; a missing row means unlimited."""
        for quota in self.quotas:
            if quota.service == service:
                return quota
        return Quota(self.name, service, None)


def _quotas(
    plan: str, mode: EnforcementMode, limits: tuple[str, ...], prices: tuple[str, ...]
) -> tuple[Quota, ...]:
    return tuple(
        Quota(plan, service, Decimal(limit), mode, Decimal(price))
        for service, limit, price in zip(SERVICE_NAMES, limits, prices, strict=True)
    )


#: Default limits per month, in the order of SERVICE_NAMES:
#: api (requests), storage (GB-hours), bandwidth (GB), compute (CPU-hours), database (queries),
#: functions (invocations). Overage prices are per unit; hard limits never bill overage.
DEFAULT_PLANS: tuple[Plan, ...] = (
    Plan(
        "free",
        Decimal("0.00"),
        Decimal("0.00"),
        "10K API requests, 1GB storage",
        0,
        quotas=_quotas(
            "free",
            EnforcementMode.HARD,
            ("10000", "1", "5", "0.5", "50000", "1000"),
            ("0", "0", "0", "0", "0", "0"),
        ),
    ),
    Plan(
        "starter",
        Decimal("29.00"),
        Decimal("290.00"),
        "100K API requests, 10GB storage",
        1,
        quotas=_quotas(
            "starter",
            EnforcementMode.SOFT,
            ("100000", "10", "50", "5", "500000", "10000"),
            ("0.000010", "0.000150", "0.080000", "0.050000", "0.000002", "0.000020"),
        ),
    ),
    Plan(
        "pro",
        Decimal("99.00"),
        Decimal("990.00"),
        "1M API requests, 100GB storage",
        2,
        quotas=_quotas(
            "pro",
            EnforcementMode.SOFT,
            ("1000000", "100", "500", "50", "5000000", "100000"),
            ("0.000008", "0.000125", "0.050000", "0.040000", "0.0000015", "0.000015"),
        ),
    ),
    Plan("enterprise", None, None, "Unlimited, dedicated support", 3),
)
