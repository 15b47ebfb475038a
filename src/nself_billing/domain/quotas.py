"""Quota status bands, as the spec draws them.

below 75% ok (✓) · 75–89% warning (⚡) · 90–100% critical (⚠) · above 100% over (⚠ OVER)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum


class QuotaBand(StrEnum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    OVER = "over"
    UNLIMITED = "unlimited"

    @property
    def icon(self) -> str:
        return _ICONS[self]


_ICONS = {
    QuotaBand.OK: "✓",
    QuotaBand.WARNING: "⚡",
    QuotaBand.CRITICAL: "⚠",
    QuotaBand.OVER: "⚠ OVER",
    QuotaBand.UNLIMITED: "✓",
}

#: thresholds (percent) whose crossing records one alert per customer, service and period
ALERT_THRESHOLDS: tuple[int, ...] = (75, 90, 100)


def percent_used(usage: Decimal, limit: Decimal | None) -> int:
    """Whole percent, rounded down as the spec shows it (45.2K of 1M is 4%)."""
    if limit is None:
        return 0
    if limit <= 0:
        return 0 if usage <= 0 else 100 if usage == limit else 101
    return int((usage * 100 / limit).to_integral_value(rounding=ROUND_FLOOR))


def band_for(usage: Decimal, limit: Decimal | None) -> QuotaBand:
    if limit is None:
        return QuotaBand.UNLIMITED
    if usage > limit:
        return QuotaBand.OVER
    if limit == 0:
        return QuotaBand.CRITICAL
    ratio = usage / limit
    if ratio >= Decimal("0.90"):
        return QuotaBand.CRITICAL
    if ratio >= Decimal("0.75"):
        return QuotaBand.WARNING
    return QuotaBand.OK


def thresholds_crossed(before: Decimal, after: Decimal, limit: Decimal | None) -> list[int]:
    """Alert thresholds passed by moving usage from ``before`` to ``after`` (inclusive at 75/90,
    strictly above at 100, the same edges as the bands)."""
    if limit is None or after <= before:
        return []
    crossed = []
    for threshold in ALERT_THRESHOLDS:
        edge = limit * threshold / 100
        reached_after = after > edge if threshold == 100 else after >= edge
        reached_before = before > edge if threshold == 100 else before >= edge
        if reached_after and not reached_before:
            crossed.append(threshold)
    return crossed


@dataclass(frozen=True)
class QuotaStatus:
    service: str
    usage: Decimal
    limit: Decimal | None
    mode: str

    @property
    def percent(self) -> int:
        return percent_used(self.usage, self.limit)

    @property
    def band(self) -> QuotaBand:
        return band_for(self.usage, self.limit)

    @property
    def available(self) -> Decimal | None:
        if self.limit is None:
            return None
        return max(self.limit - self.usage, Decimal(0))


def thresholds_reached(usage: Decimal, limit: Decimal | None) -> list[int]:
    """Alert thresholds that ``usage`` has reached (the same edges as ``thresholds_crossed``)."""
    return thresholds_crossed(Decimal(-1), usage, limit) if usage >= 0 else []
