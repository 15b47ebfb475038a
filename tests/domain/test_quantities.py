"""The one quantity reader: whatever it is given, it answers a storable quantity or
``InvalidInput``, never another exception (issue 14: ``1e30`` raised decimal.InvalidOperation)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nself_billing.domain.quantities import (
    MAX_QUANTITY,
    asked_micros,
    converted_quantity,
    parse_quantity,
    quantity_and_micros,
)
from nself_billing.errors import InvalidInput

ANYTHING = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.text(max_size=40),
    st.from_regex(r"-?[0-9]{0,30}(\.[0-9]{0,30})?([eE][-+]?[0-9]{1,12})?", fullmatch=True),
    st.none(),
    st.booleans(),
)


@given(ANYTHING)
def test_any_input_is_a_storable_quantity_or_invalid_input(value):
    try:
        quantity, micros = quantity_and_micros(value)
    except InvalidInput as error:
        assert error.message.startswith("Invalid quantity: ")
        assert "\n" not in error.message and len(error.message) < 120
        return
    assert 0 <= quantity <= MAX_QUANTITY
    assert quantity == quantity.quantize(Decimal("0.000001"))
    assert micros == int(quantity * 1_000_000)


@given(ANYTHING)
def test_a_question_rounds_instead_of_refusing_places(value):
    try:
        micros = asked_micros(value)
    except InvalidInput:
        return
    assert 0 <= micros <= int(MAX_QUANTITY) * 1_000_000


@pytest.mark.parametrize(
    "value, reason",
    [
        (1e30, "too large"),
        ("1e308", "too large"),
        (float("nan"), "not a finite number"),
        ("-Infinity", "not a finite number"),
        ("1e-30", "at most 6 decimal places"),
        ("0.0000004", "at most 6 decimal places"),
        (-1, "must be zero or more"),
        (True, "not a number"),
        ("ten", "not a number"),
    ],
)
def test_what_is_refused_and_why(value, reason):
    with pytest.raises(InvalidInput, match=reason):
        parse_quantity(value)


def test_what_is_read_exactly():
    assert quantity_and_micros(5) == (Decimal(5), 5_000_000)
    assert quantity_and_micros(0.1) == (Decimal("0.100000"), 100_000)
    assert quantity_and_micros("1.0000000") == (Decimal("1.000000"), 1_000_000)
    assert quantity_and_micros("-0") == (Decimal("0.000000"), 0)
    assert parse_quantity("1e12", Decimal("1e12"), what="limit") == Decimal("1000000000000")
    assert converted_quantity(Decimal("0.048828125")) == Decimal("0.048828")
    assert asked_micros(9.1552734375e-05) == 92
