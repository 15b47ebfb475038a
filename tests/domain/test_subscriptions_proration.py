"""Proration by the exact time left in the period, half-up to the cent.

Worked examples a reviewer can check by hand: the starter plan is $29, pro $99, so an upgrade
is worth the $70 difference times the share of the period still ahead.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from nself_billing.domain.periods import Period, add_months
from nself_billing.domain.proration import fraction_left, prorate, trial_share, upgrade_charge

STARTER, PRO = Decimal("29.00"), Decimal("99.00")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


JAN_15 = Period(utc(2026, 1, 15), utc(2026, 2, 15))  # 31 days


def test_upgrade_ten_days_into_a_31_day_period_charges_21_31sts_of_each_price_rounded():
    # as Stripe prorates: 99 x 21/31 = 67.064... -> 67.06 less 29 x 21/31 = 19.645... -> 19.65
    assert upgrade_charge(STARTER, PRO, JAN_15, utc(2026, 1, 25)) == Decimal("47.41")


@given(st.integers(min_value=0, max_value=31 * 86_400))
def test_an_upgrade_costs_what_stripes_two_proration_lines_sum_to(seconds: int):
    at = JAN_15.start + timedelta(seconds=seconds)
    credit = prorate(STARTER, JAN_15, at)  # "Unused time on Starter", rounded on its own
    charge = prorate(PRO, JAN_15, at)  # "Remaining time on Pro", rounded on its own
    assert upgrade_charge(STARTER, PRO, JAN_15, at) == charge - credit


def test_proration_counts_seconds_not_days():
    # 20.5 days left: 70 x 20.5 / 31 = 46.290... -> 46.29
    assert upgrade_charge(STARTER, PRO, JAN_15, utc(2026, 1, 25, 12)) == Decimal("46.29")
    # one second after the start: 70 x 2678399 / 2678400 = 69.99997... -> 70.00
    assert upgrade_charge(STARTER, PRO, JAN_15, utc(2026, 1, 15, 0, 0, 1)) == Decimal("70.00")


def test_at_period_start_the_full_difference_at_period_end_nothing():
    assert upgrade_charge(STARTER, PRO, JAN_15, JAN_15.start) == Decimal("70.00")
    assert upgrade_charge(STARTER, PRO, JAN_15, JAN_15.end) == Decimal("0.00")
    assert upgrade_charge(STARTER, PRO, JAN_15, JAN_15.end + timedelta(days=3)) == 0


def test_rounding_is_half_up():
    eight_days = Period(utc(2026, 1, 1), utc(2026, 1, 9))
    # 1.00 x 1/8 = 0.125 -> 0.13 (banker's rounding would give 0.12)
    assert prorate(Decimal("1.00"), eight_days, utc(2026, 1, 8)) == Decimal("0.13")


def test_month_end_anchor_jan_31_then_feb_28_then_mar_31():
    anchor = utc(2026, 1, 31)
    first = Period(anchor, add_months(anchor, 1))
    second = Period(add_months(anchor, 1), add_months(anchor, 2))
    assert (first.end, second.end) == (utc(2026, 2, 28), utc(2026, 3, 31))
    # 14 of 28 days left: exactly half of $70
    assert upgrade_charge(STARTER, PRO, first, utc(2026, 2, 14)) == Decimal("35.00")
    # 31 - 14 = 17 of 31 days left: 70 x 17 / 31 = 38.387... -> 38.39
    assert upgrade_charge(STARTER, PRO, second, utc(2026, 3, 14)) == Decimal("38.39")


def test_leap_year_february_has_29_days():
    anchor = utc(2028, 1, 31)
    first = Period(anchor, add_months(anchor, 1))
    assert first.end == utc(2028, 2, 29)
    # 14 of 29 days left: 70 x 14 / 29 = 33.793... -> 33.79
    assert upgrade_charge(STARTER, PRO, first, utc(2028, 2, 15)) == Decimal("33.79")


def test_a_trial_ending_mid_period_leaves_the_rest_of_the_price():
    # a 14-day trial in a 31-day period: 99 x 17 / 31 = 54.290... -> 54.29
    assert trial_share(PRO, JAN_15, utc(2026, 1, 29)) == Decimal("54.29")
    assert trial_share(PRO, JAN_15, None) == PRO
    assert trial_share(PRO, JAN_15, JAN_15.end) == 0


moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)
prices = st.decimals(min_value=0, max_value=100_000, places=2)


@st.composite
def periods(draw):
    start = draw(moments)
    return Period(start, add_months(start, draw(st.sampled_from([1, 12]))))


@given(period=periods(), amount=prices, offset=st.floats(min_value=0, max_value=1))
def test_proration_stays_between_nothing_and_the_whole(period, amount, offset):
    at = period.start + (period.end - period.start) * offset
    assert Decimal(0) <= prorate(amount, period, at) <= amount
    assert 0 <= fraction_left(period, at) <= 1


@given(period=periods(), amount=prices)
def test_full_period_prorates_to_the_full_amount_and_the_end_to_zero(period, amount):
    assert prorate(amount, period, period.start) == amount
    assert prorate(amount, period, period.end) == 0


@given(period=periods(), amount=prices, a=st.floats(0, 1), b=st.floats(0, 1))
def test_later_changes_never_cost_more(period, amount, a, b):
    early, late = sorted((a, b))
    length = period.end - period.start
    assert prorate(amount, period, period.start + length * early) >= prorate(
        amount, period, period.start + length * late
    )


@given(
    period=periods(),
    tiers=st.lists(prices, min_size=2, max_size=5),
    offsets=st.lists(st.floats(0, 1), min_size=4, max_size=4),
)
def test_upgrades_then_a_downgrade_never_bill_more_than_the_highest_price(period, tiers, offsets):
    """The period began on the lowest plan (its price billed at close); each upgrade charges
    its prorated difference at once; the downgrade is scheduled for the period end and
    charges nothing. Over the period that is never more than the highest plan's price."""
    tiers = sorted(tiers)
    length = period.end - period.start
    billed = tiers[0]
    for previous, following, offset in zip(tiers, tiers[1:], sorted(offsets), strict=False):
        billed += upgrade_charge(previous, following, period, period.start + length * offset)
    assert billed <= tiers[-1]
