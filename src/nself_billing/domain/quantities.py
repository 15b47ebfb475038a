"""The one reader of quantities: every face (library, CLI, HTTP, import, recorder, quotas)
turns what a caller gave into a quantity here, and a value it refuses is ``InvalidInput``.

A quantity is a finite number of zero or more, exact to 6 decimal places (the storage keeps it
as integer micro-units beside the spec's NUMERIC(20, 6) column), and at most ``maximum``
(one event: 10^9 units, so a day's rollup of micro-units stays in 64 bits). Refused, never
rounded: NaN, Infinity, booleans, text that is not a number, a negative value, more than 6
decimal places (``1e-30``, ``0.0000004``) and anything above the maximum (``1e30``, ``1e308``).
The size is checked before any decimal arithmetic, so no input can raise
``decimal.InvalidOperation`` (which a ``quantize`` of ``1e30`` to 6 places does).

Quantities *computed* from tracker inputs (bytes to GB, seconds to hours) are rounded half-up
to 6 places instead: ``converted_quantity``; so is the quantity of a question that stores
nothing (``check``, ``enforce``: ``asked_micros``), because the spec's own example asks
``billing_check_quota "storage" "$gb_hours"`` with awk's ``9.15527e-05`` and then tracks the
same bytes, rounded so.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from ..errors import InvalidInput
from .money import MAX_LIMIT, MAX_QUANTITY, MICROS, QUANTITY_STEP, UNIT_PRICE_PLACES

#: an overage price per unit: the column is NUMERIC(18, 9) (migration 0009)
MAX_UNIT_PRICE = Decimal("999999999")
#: the largest quantity ``check`` and ``enforce`` take: they record nothing, so the per-event
#: cap of recording (``MAX_QUANTITY``, 10^9 units) does not apply; any quantity above the
#: largest quota limit (``MAX_LIMIT``) exceeds every finite limit, and 10^18 units still fits a
#: byte count (the spec's example asks for 1,073,741,824)
CHECK_MAX_QUANTITY = Decimal(10**18)
_ZERO = Decimal("0.000000")
#: whole quantities up to this take the fast path (no Decimal parsing)
_MAX_WHOLE = int(MAX_QUANTITY)

__all__ = [
    "CHECK_MAX_QUANTITY",
    "MAX_LIMIT",
    "MAX_QUANTITY",
    "MAX_UNIT_PRICE",
    "asked_micros",
    "converted_quantity",
    "parse_quantity",
    "parse_unit_price",
    "quantity_and_micros",
]


def _number(value: object, what: str) -> Decimal:
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, bool):
        raise InvalidInput(f"Invalid {what}: {value} (not a number)")
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        # repr() is the shortest text that round-trips: 0.1 stays 0.1
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except (InvalidOperation, ValueError):
            raise InvalidInput(f"Invalid {what}: {_shown(value)} (not a number)") from None
    else:
        raise InvalidInput(f"Invalid {what}: {_shown(value)} (not a number)")
    if not number.is_finite():
        raise InvalidInput(f"Invalid {what}: {_shown(value)} (not a finite number)")
    return number


def _shown(value: object) -> str:
    """The value as the message shows it: one line, short, printable."""
    text = value if isinstance(value, str) else str(value)
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_quantity(
    value: object, maximum: Decimal = MAX_QUANTITY, *, what: str = "quantity"
) -> Decimal:
    """A caller's quantity, exact to 6 places (see the module's rules); ``what`` names it in
    the message (``limit``, ``overage price``)."""
    number = _number(value, what)
    if number < 0:
        raise InvalidInput(f"Invalid {what}: {_shown(value)} (must be zero or more)")
    # compared before any arithmetic: quantizing 1e30 to 6 places would raise
    if number > maximum:
        raise InvalidInput(f"Invalid {what}: {_shown(value)} (too large: at most {maximum:,})")
    # within the maximum, 6 places fit the context's 28 digits: quantize cannot raise
    exact = number.quantize(QUANTITY_STEP, rounding=ROUND_HALF_UP)
    if exact != number:
        raise InvalidInput(f"Invalid {what}: {_shown(value)} (at most 6 decimal places)")
    return exact if exact else _ZERO  # -0 is 0


def parse_unit_price(value: object, *, what: str = "overage price") -> Decimal:
    """A unit price as given (an overage price): zero or more, at most ``MAX_UNIT_PRICE`` and
    ``UNIT_PRICE_PLACES`` (9) decimal places; more places are refused, never rounded."""
    number = _number(value, what)
    if number < 0:
        raise InvalidInput(f"Invalid {what}: {_shown(value)} (must be zero or more)")
    if number > MAX_UNIT_PRICE:
        raise InvalidInput(
            f"Invalid {what}: {_shown(value)} (too large: at most {MAX_UNIT_PRICE:,})"
        )
    step = Decimal(1).scaleb(-UNIT_PRICE_PLACES)
    if number.quantize(step, rounding=ROUND_HALF_UP) != number:
        raise InvalidInput(
            f"Invalid {what}: {_shown(value)} (more than {UNIT_PRICE_PLACES} decimal places)"
        )
    return number if number else Decimal(0)


def quantity_and_micros(value: object, maximum: Decimal = MAX_QUANTITY) -> tuple[Decimal, int]:
    """``parse_quantity`` and the same value in integer micro-units (the hot path: a plain
    whole number skips the decimal parsing)."""
    if type(value) is int and 0 <= value <= _MAX_WHOLE:
        return Decimal(value), value * MICROS
    quantity = parse_quantity(value, maximum)
    return quantity, int(quantity.scaleb(6))


def converted_quantity(value: Decimal, maximum: Decimal = MAX_QUANTITY) -> Decimal:
    """A quantity computed by a tracker (bytes / 2^30, seconds / 3600), rounded half-up to 6
    places; too large is refused like a given one."""
    if not value.is_finite() or value < 0:
        raise InvalidInput(f"Invalid quantity: {value} (must be a finite number of zero or more)")
    if value > maximum:
        raise InvalidInput(f"Invalid quantity: {value:E} (too large: at most {maximum:,})")
    return value.quantize(QUANTITY_STEP, rounding=ROUND_HALF_UP)


def asked_micros(value: object, maximum: Decimal = MAX_QUANTITY) -> int:
    """The quantity of a question (would it fit?) in micro-units: read as ``parse_quantity``
    reads it, but rounded half-up to 6 places instead of refused for more."""
    if type(value) is int and 0 <= value <= _MAX_WHOLE:
        return value * MICROS
    number = _number(value, "quantity")
    if number < 0:
        raise InvalidInput(f"Invalid quantity: {_shown(value)} (must be zero or more)")
    return int(converted_quantity(number, maximum).scaleb(6))
