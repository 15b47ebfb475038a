"""Rating a closed period: base line, overage lines, late-usage adjustments, totals.

Default catalog: pro $99 with soft limits (api 1M at $0.000008, bandwidth 500 GB at $0.05),
starter $29 (api 100K at $0.00001, database 500K at $0.000002, functions 10K at $0.00002),
free $0 with hard limits, enterprise custom and unlimited.
"""

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from nself_billing.domain.invoicing import (
    LineKind,
    RatedUsage,
    adjustment_line,
    invoice_total,
    rate_period,
)
from nself_billing.domain.periods import Period
from nself_billing.domain.plans import DEFAULT_PLANS
from nself_billing.domain.services import SERVICE_NAMES

PLANS = {plan.name: plan for plan in DEFAULT_PLANS}
PERIOD = Period(datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 2, 15, tzinfo=UTC))
D = Decimal


def test_pro_period_with_api_and_bandwidth_overage():
    rating = rate_period(
        plan=PLANS["pro"],
        period=PERIOD,
        usage={
            "api": D("1150000"),  # 150,000 over x 0.000008 = 1.20
            "bandwidth": D("512.5"),  # 12.5 GB over x 0.05 = 0.625 -> 0.63 (half-up)
            "storage": D("80"),  # within 100 GB-hours
        },
    )
    assert [(line.kind, line.service, line.amount) for line in rating.lines] == [
        (LineKind.BASE, None, D("99.00")),
        (LineKind.OVERAGE, "api", D("1.20")),
        (LineKind.OVERAGE, "bandwidth", D("0.63")),
    ]
    assert rating.lines[0].description == "Pro plan (2026-01-15 to 2026-02-14)"
    assert rating.lines[1].description == (
        "api overage: 150000 requests beyond 1000000 at $0.000008"
    )
    assert rating.lines[1].quantity == D("150000")
    assert rating.total == D("100.83")


def test_total_is_the_sum_of_rounded_lines_not_a_rounded_sum():
    rating = rate_period(
        plan=PLANS["starter"],
        period=PERIOD,
        usage={
            "api": D("100500"),  # 500 x 0.00001 = 0.005 -> 0.01
            "database": D("502500"),  # 2,500 x 0.000002 = 0.005 -> 0.01
            "functions": D("10250"),  # 250 x 0.00002 = 0.005 -> 0.01
        },
    )
    assert [line.amount for line in rating.lines] == [D("29.00"), D("0.01"), D("0.01"), D("0.01")]
    assert rating.total == D("29.03")  # rounding the raw 29.015 would give 29.02


def test_hard_limits_never_bill_overage():
    usage = {service: D("1000000") for service in SERVICE_NAMES}
    rating = rate_period(plan=PLANS["free"], period=PERIOD, usage=usage)
    assert [(line.kind, line.amount) for line in rating.lines] == [(LineKind.BASE, D("0.00"))]
    assert {r.service: r.usage for r in rating.rated}["api"] == D("1000000")


def test_custom_priced_unlimited_plan_has_no_lines():
    rating = rate_period(plan=PLANS["enterprise"], period=PERIOD, usage={"api": D("10") ** 9})
    assert rating.lines == ()
    assert rating.total == 0


def test_yearly_interval_bills_the_yearly_price():
    year = Period(datetime(2026, 1, 15, tzinfo=UTC), datetime(2027, 1, 15, tzinfo=UTC))
    rating = rate_period(plan=PLANS["pro"], period=year, usage={}, interval="year")
    assert rating.total == D("990.00")


def test_a_trial_covering_the_period_bills_nothing():
    rating = rate_period(
        plan=PLANS["pro"], period=PERIOD, usage={"api": D("2000000")}, trial_end=PERIOD.end
    )
    assert rating.total == 0


def test_late_usage_is_billed_as_the_difference():
    previous = RatedUsage("api", D("1150000"), D("1.20"))
    line, rated = adjustment_line(previous, D("1400000"), PLANS["pro"].quota_for("api"), PERIOD)
    # the period now costs 400,000 x 0.000008 = 3.20; 1.20 was billed: 2.00 more
    assert (line.kind, line.amount, line.quantity) == (LineKind.ADJUSTMENT, D("2.00"), D("250000"))
    assert line.description == (
        "api usage reported late for 2026-01-15 to 2026-02-14: +250000 requests"
    )
    assert rated == RatedUsage("api", D("1400000"), D("3.20"))


def test_late_usage_within_the_quota_costs_nothing_but_is_remembered():
    previous = RatedUsage("api", D("500000"), D("0"))
    line, rated = adjustment_line(previous, D("600000"), PLANS["pro"].quota_for("api"), PERIOD)
    assert line is None
    assert rated.usage == D("600000")


usage_values = st.decimals(min_value=0, max_value=10**9, places=6)


@given(
    plan=st.sampled_from(DEFAULT_PLANS),
    usage=st.dictionaries(st.sampled_from(SERVICE_NAMES), usage_values),
)
def test_every_line_is_in_cents_and_the_total_is_their_sum(plan, usage):
    rating = rate_period(plan=plan, period=PERIOD, usage=usage)
    for line in rating.lines:
        assert line.amount == line.amount.quantize(D("0.01"))
        assert line.amount >= 0
    assert rating.total == invoice_total(rating.lines) == sum(line.amount for line in rating.lines)


@given(before=usage_values, extra=usage_values, more=usage_values)
def test_adjustments_add_up_to_billing_the_final_usage_once(before, extra, more):
    quota = PLANS["pro"].quota_for("api")
    first = rate_period(plan=PLANS["pro"], period=PERIOD, usage={"api": before})
    rated = first.rated[0]
    billed = sum((line.amount for line in first.lines if line.kind == LineKind.OVERAGE), D(0))
    for late in (extra, more):
        line, rated = adjustment_line(rated, rated.usage + late, quota, PERIOD)
        billed += line.amount if line else 0
    final = rate_period(plan=PLANS["pro"], period=PERIOD, usage={"api": before + extra + more})
    assert billed == sum(
        (line.amount for line in final.lines if line.kind == LineKind.OVERAGE), D(0)
    )
