from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nself_billing.domain.periods import (
    Period,
    add_months,
    calendar_month,
    day_range,
    period_at,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_subscription_started_jan_31_renews_feb_28_then_mar_31():
    anchor = utc(2026, 1, 31)
    assert [add_months(anchor, n) for n in range(4)] == [
        utc(2026, 1, 31),
        utc(2026, 2, 28),
        utc(2026, 3, 31),
        utc(2026, 4, 30),
    ]


def test_leap_years_renew_on_feb_29():
    assert add_months(utc(2028, 1, 31), 1) == utc(2028, 2, 29)


def test_the_period_holding_a_moment_is_found_from_the_anchor():
    anchor = utc(2026, 1, 31)
    assert period_at(anchor, utc(2026, 3, 1)) == Period(utc(2026, 2, 28), utc(2026, 3, 31))
    assert period_at(anchor, utc(2026, 3, 31)) == Period(utc(2026, 3, 31), utc(2026, 4, 30))


def test_yearly_periods():
    assert period_at(utc(2024, 2, 29), utc(2025, 6, 1), 12) == Period(
        utc(2025, 2, 28), utc(2026, 2, 28)
    )


def test_calendar_month_and_day_ranges():
    assert calendar_month(utc(2026, 12, 31, 23)) == Period(utc(2026, 12, 1), utc(2027, 1, 1))
    period = day_range(utc(2025, 12, 1).date(), utc(2025, 12, 31).date())
    assert (period.first_day, period.end_day) == (utc(2025, 12, 1).date(), utc(2026, 1, 1).date())


def test_a_period_must_be_aware_and_forward():
    with pytest.raises(ValueError):
        Period(datetime(2026, 1, 1), datetime(2026, 2, 1))
    with pytest.raises(ValueError):
        Period(utc(2026, 2, 1), utc(2026, 1, 1))


anchors = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)


@given(anchor=anchors, count=st.integers(min_value=1, max_value=40))
def test_periods_tile_without_gap_or_overlap(anchor, count):
    periods = [Period(add_months(anchor, n), add_months(anchor, n + 1)) for n in range(count)]
    for before, after in pairwise(periods):
        assert before.end == after.start
    for period in periods:
        assert timedelta(days=28) <= period.end - period.start <= timedelta(days=31)


@given(anchor=anchors, offset=st.integers(min_value=0, max_value=10**9))
def test_every_moment_after_the_anchor_falls_in_exactly_its_period(anchor, offset):
    moment = anchor + timedelta(seconds=offset)
    period = period_at(anchor, moment)
    assert period.contains(moment)
