"""Proration: the share of a period's price that the time left in the period is worth.

Exact: the time left and the period length are counted in microseconds (integers), the ratio
is a ``Decimal``, and only the final amount is rounded, half-up to the cent. So a change at the
very start of a period is worth the full difference and a change at its very end nothing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from .money import round_money
from .periods import Period

ZERO = Decimal(0)
_MICROSECONDS = 1_000_000


def _microseconds(delta_seconds: int, delta_micro: int) -> int:
    return delta_seconds * _MICROSECONDS + delta_micro


def microseconds_left(period: Period, at: datetime) -> int:
    """Time from ``at`` to the period's end, clamped to [0, the whole period]."""
    if at <= period.start:
        at = period.start
    if at >= period.end:
        return 0
    left = period.end - at
    return _microseconds(left.days * 86_400 + left.seconds, left.microseconds)


def period_microseconds(period: Period) -> int:
    length = period.end - period.start
    return _microseconds(length.days * 86_400 + length.seconds, length.microseconds)


def fraction_left(period: Period, at: datetime) -> Decimal:
    """Exact share of the period still ahead at ``at``: 1 at the start, 0 at the end."""
    return Decimal(microseconds_left(period, at)) / Decimal(period_microseconds(period))


def prorate(amount: Decimal, period: Period, at: datetime) -> Decimal:
    """``amount`` times the share of the period left at ``at``, half-up to the cent."""
    left = microseconds_left(period, at)
    total = period_microseconds(period)
    if left == total:
        return round_money(amount)
    return round_money(amount * Decimal(left) / Decimal(total))


def upgrade_charge(old_price: Decimal, new_price: Decimal, period: Period, at: datetime) -> Decimal:
    """What moving from ``old_price`` to ``new_price`` at ``at`` costs for the rest of the
    period: the new price's share of the time left less the old one's, each rounded half-up
    to the cent on its own, as Stripe prorates (a credit line for the unused time and a charge
    line for the rest, each rounded), so both engines charge the same cent. Never negative: a
    "higher" plan priced lower is no refund (the spec: no refunds)."""
    return max(prorate(new_price, period, at) - prorate(old_price, period, at), ZERO)


def trial_share(price: Decimal, period: Period, trial_end: datetime | None) -> Decimal:
    """The part of a period's price owed when a free trial covers its beginning."""
    if trial_end is None or trial_end <= period.start:
        return round_money(price)
    return prorate(price, period, trial_end)
