"""Humanized figures as the spec prints them: 45.2K, 1.0M, 2.5GB, 5.2."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from .services import SERVICES

_STEPS = (
    (Decimal(10**12), "T"),
    (Decimal(10**9), "B"),
    (Decimal(10**6), "M"),
    (Decimal(10**3), "K"),
)
_TENTH = Decimal("0.1")


def _one_decimal(value: Decimal) -> str:
    return str(value.quantize(_TENTH, rounding=ROUND_HALF_UP))


def human_count(value: Decimal) -> str:
    """45200 -> 45.2K, 1000000 -> 1.0M, 999 -> 999, 12.5 -> 12.5."""
    magnitude = abs(value)
    for step, suffix in _STEPS:
        if magnitude >= step:
            return _one_decimal(value / step) + suffix
    if value == value.to_integral_value():
        return str(int(value))
    return _one_decimal(value)


def human_quantity(service: str, value: Decimal) -> str:
    """A quantity of a service in the spec's style (GB services carry the GB suffix)."""
    style = SERVICES[service].style if service in SERVICES else "count"
    if style == "gb":
        return _one_decimal(value) + "GB"
    if style == "plain":
        return _one_decimal(value)
    return human_count(value)


def human_limit(service: str, value: Decimal | None) -> str:
    return "Unlimited" if value is None else human_quantity(service, value)


def plain_number(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros: 1000000, 0.5, 100."""
    normalized = value.normalize()
    if normalized == normalized.to_integral_value():
        return str(int(normalized))
    return format(normalized, "f")
