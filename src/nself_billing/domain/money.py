"""Exact quantities and money.

Quantities are exact to 6 decimal places and travel as integer micro-units beside the decimal
value, because SQLite sums NUMERIC in floating point. Money is rounded half-up to the cent at
the line level; totals are sums of rounded lines.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MICROS = 1_000_000
CENT = Decimal("0.01")
QUANTITY_STEP = Decimal("0.000001")
#: decimal places stored for a plan's monthly or yearly price (the spec's DECIMAL(10,2))
PLAN_PRICE_PLACES = 2
#: decimal places stored for a unit price (overage, invoice line): migration 0009 widened the
#: spec's DECIMAL(10,6) to DECIMAL(18,9), so $1.50 per million units ($0.0000015) is exact
UNIT_PRICE_PLACES = 9
#: decimal places stored for a quantity or a quota limit (the spec's DECIMAL(20,6))
QUANTITY_PLACES = 6
#: the largest quantity of one event: the spec's DECIMAL(20,6) would hold 14 integer digits,
#: but exact micro-units live in 64-bit integers (and a day's rollup sums them), so one event
#: stays at or below 10^9 units (a day's rollup of one service holds up to ~9.2 * 10^12)
MAX_QUANTITY = Decimal("1000000000")
#: the largest quota limit of one period (its micro-units still fit 64 bits)
MAX_LIMIT = Decimal("1000000000000")


def to_decimal(value: object) -> Decimal:
    """Parse a user-given number without ever passing through float."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise ValueError("not a number: a boolean")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        # repr() gives the shortest string that round-trips: 0.1 stays 0.1
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a number: {value!r}") from None
    else:
        raise ValueError(f"not a number: {value!r}")
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result


def decimal_places(value: Decimal) -> int:
    """How many decimal places ``value`` needs (trailing zeros do not count)."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def unit_price(value: Decimal) -> Decimal:
    """A stored unit price as shown: at least 6 decimal places (0.000010), more when the price
    has them (0.0000015), never a rounded digit."""
    places = max(QUANTITY_PLACES, decimal_places(value))
    return value.quantize(Decimal(1).scaleb(-places))


def quantize_quantity(value: Decimal) -> Decimal:
    """Round a quantity half-up to 6 decimal places (the storage precision)."""
    return value.quantize(QUANTITY_STEP, rounding=ROUND_HALF_UP)


def to_micros(value: Decimal) -> int:
    return int(quantize_quantity(value) * MICROS)


def from_micros(micros: int) -> Decimal:
    return (Decimal(micros) / MICROS).quantize(QUANTITY_STEP)


def round_money(value: Decimal) -> Decimal:
    """Half-up to the cent: the rounding rule of every invoice line."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def format_money(amount: Decimal, currency: str = "usd") -> str:
    sign = "-" if amount < 0 else ""
    symbol = "$" if currency.lower() == "usd" else ""
    text = f"{sign}{symbol}{abs(round_money(amount)):,.2f}"
    return text if symbol else f"{text} {currency.upper()}"


def format_price(amount: Decimal | None) -> str:
    """A plan price as the spec shows it: $0, $29, $99.50, or Custom."""
    if amount is None:
        return "Custom"
    if amount == amount.to_integral_value():
        return f"${int(amount):,}"
    return f"${round_money(amount):,.2f}"
