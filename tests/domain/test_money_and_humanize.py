from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nself_billing.domain.humanize import human_count, human_limit, human_quantity, plain_number
from nself_billing.domain.money import (
    format_money,
    format_price,
    from_micros,
    round_money,
    to_decimal,
    to_micros,
)


@pytest.mark.parametrize(
    "value, text",
    [
        ("45200", "45.2K"),
        ("1000000", "1.0M"),
        ("152300", "152.3K"),
        ("1800", "1.8K"),
        ("999", "999"),
        ("12.5", "12.5"),
        ("0", "0"),
        ("5000000", "5.0M"),
        ("2500000000", "2.5B"),
    ],
)
def test_counts_read_as_the_spec_prints_them(value, text):
    assert human_count(Decimal(value)) == text


def test_quantities_in_the_spec_style_per_service():
    assert human_quantity("storage", Decimal("2.5")) == "2.5GB"
    assert human_quantity("bandwidth", Decimal("125")) == "125.0GB"
    assert human_quantity("compute", Decimal("5.2")) == "5.2"
    assert human_quantity("api", Decimal("45200")) == "45.2K"
    assert human_limit("api", None) == "Unlimited"


def test_plain_numbers_have_no_exponent():
    assert plain_number(Decimal("1000000.000000")) == "1000000"
    assert plain_number(Decimal("0.500000")) == "0.5"


def test_money_rounds_half_up_to_the_cent():
    assert round_money(Decimal("1.005")) == Decimal("1.01")
    assert round_money(Decimal("1.004999")) == Decimal("1.00")
    assert round_money(Decimal("-1.005")) == Decimal("-1.01")
    assert format_money(Decimal("1234.5")) == "$1,234.50"
    assert format_price(Decimal("29.00")) == "$29"
    assert format_price(None) == "Custom"


def test_numbers_never_pass_through_binary_floats():
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_decimal("  7.25 ") == Decimal("7.25")
    for bad in ("abc", "NaN", "inf", True, None, [1]):
        with pytest.raises(ValueError):
            to_decimal(bad)


@given(
    st.decimals(
        min_value=0,
        max_value=Decimal("1000000000"),
        places=6,
        allow_nan=False,
        allow_infinity=False,
    )
)
def test_micros_round_trip_exactly(value):
    assert from_micros(to_micros(value)) == value
