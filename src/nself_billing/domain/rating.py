"""Rating usage against a quota: what lies beyond the limit and what it costs.

The usage report's cost column, the quota view and the invoice's overage lines all use these
two functions, so they always show the same figure.
"""

from __future__ import annotations

from decimal import Decimal

from .money import round_money
from .plans import EnforcementMode, Quota

ZERO = Decimal(0)


def overage_quantity(usage: Decimal, quota: Quota) -> Decimal:
    """Units beyond the limit (zero within it, or without a limit)."""
    if quota.limit is None or usage <= quota.limit:
        return ZERO
    return usage - quota.limit


def overage_amount(usage: Decimal, quota: Quota) -> Decimal:
    """What the overage costs, half-up to the cent. Hard limits never bill overage."""
    if quota.mode is EnforcementMode.HARD:
        return ZERO
    return round_money(overage_quantity(usage, quota) * quota.overage_price)
