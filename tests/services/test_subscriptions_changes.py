"""Upgrades, downgrades, cancellations and reactivation on both backends.

The clock starts at 2026-01-15 12:00 UTC; subscriptions are anchored at 00:00 UTC that day, so
the first period is 2026-01-15 to 2026-02-15 (31 days). Starter is $29, pro $99.
"""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from nself_billing import Conflict, InvalidInput, NotFound


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def starter(billing):
    customer = billing.customers.create(
        email="s@example.com", name="Starter Co", customer_id="cus_starter"
    )
    billing.subscriptions.start(customer.customer_id, "starter")
    return customer.customer_id


def count(billing, sql):
    return int(billing.queries.render(sql))


def test_upgrade_invoices_the_prorated_difference_at_once(billing, starter, clock):
    # 21 of 31 days left: 99 x 21/31 -> 67.06 less 29 x 21/31 -> 19.65 (each rounded, as Stripe)
    clock.now = utc(2026, 1, 25)
    change = billing.subscriptions.upgrade(starter, "pro")
    assert change.previous_plan == "starter"
    assert change.subscription.plan_name == "pro"
    assert change.invoice.total == Decimal("47.41")
    stored = billing.invoices.get(starter, change.invoice.invoice_id)
    assert (stored.kind, stored.status, stored.total) == ("proration", "open", Decimal("47.41"))
    assert [line.description for line in stored.lines] == [
        "Upgrade starter -> pro, prorated 2026-01-25 to 2026-02-14"
    ]
    # the quota limits switch at once: the current plan is pro
    assert billing.plans.current(starter).name == "pro"


def test_upgrading_to_the_same_or_a_lower_plan_is_an_error(billing, customer_id):
    with pytest.raises(InvalidInput, match="^Already on the pro plan$"):
        billing.subscriptions.upgrade(customer_id, "pro")
    with pytest.raises(InvalidInput, match="^Cannot upgrade from pro to starter: not a higher"):
        billing.subscriptions.upgrade(customer_id, "starter")
    assert count(billing, "SELECT COUNT(*) FROM billing_invoices") == 0


def test_upgrade_to_a_custom_priced_plan_charges_nothing_here(billing, customer_id):
    change = billing.subscriptions.upgrade(customer_id, "enterprise")
    assert change.invoice is None
    assert change.subscription.plan_name == "enterprise"


def test_downgrade_is_scheduled_for_period_end_without_charge(billing, customer_id):
    change = billing.subscriptions.downgrade(customer_id, "starter")
    subscription = change.subscription
    assert (subscription.plan_name, subscription.scheduled_plan_name) == ("pro", "starter")
    assert billing.plans.current(customer_id).name == "pro"
    assert count(billing, "SELECT COUNT(*) FROM billing_invoices") == 0
    with pytest.raises(InvalidInput, match="^Cannot downgrade from pro to enterprise"):
        billing.subscriptions.downgrade(customer_id, "enterprise")
    with pytest.raises(InvalidInput, match="^Already on the pro plan$"):
        billing.subscriptions.downgrade(customer_id, "pro")


def test_unknown_plan_and_no_subscription(billing, customer_id):
    from nself_billing import PlanNotFound

    with pytest.raises(PlanNotFound, match="^Plan not found: gold$"):
        billing.subscriptions.upgrade(customer_id, "gold")
    billing.customers.create(email="n@example.com", name="None", customer_id="cus_none")
    with pytest.raises(NotFound, match="^No active subscription$"):
        billing.subscriptions.downgrade("cus_none", "free")


def test_cancel_at_period_end_then_reactivate(billing, customer_id):
    change = billing.subscriptions.cancel(customer_id)
    assert change.subscription.cancel_at_period_end is True
    assert change.subscription.pipe_line().endswith("|true")
    again = billing.subscriptions.reactivate(customer_id)
    assert again.subscription.cancel_at_period_end is False
    with pytest.raises(Conflict, match="^Subscription is not scheduled for cancellation$"):
        billing.subscriptions.reactivate(customer_id)


def test_immediate_cancel_is_final_with_a_last_invoice(billing, customer_id, clock):
    billing.usage.record("api", 1_150_000, customer_id=customer_id, at=utc(2026, 1, 20))
    clock.now = utc(2026, 1, 25, 8)
    change = billing.subscriptions.cancel(customer_id, immediate=True)
    assert change.subscription.status == "canceled"
    invoice = billing.invoices.get(customer_id, change.invoice.invoice_id)
    assert invoice.kind == "final"
    # no refunds: the period's price, and the overage so far (150,000 x 0.000008)
    assert [line.amount for line in invoice.lines] == [Decimal("99.00"), Decimal("1.20")]
    assert billing.subscriptions.find_current(customer_id) is None
    with pytest.raises(NotFound, match="^No subscription found to reactivate"):
        billing.subscriptions.reactivate(customer_id)


def test_pipe_line_of_the_spec(billing, customer_id):
    line = billing.subscriptions.current(customer_id).pipe_line()
    sub_id, plan, status, start, end, cancel_at_end = line.split("|")
    assert (plan, status, start, end, cancel_at_end) == (
        "pro",
        "active",
        "2026-01-15",
        "2026-02-15",
        "false",
    )
    assert sub_id.startswith("sub_")


def test_a_change_after_the_period_ended_closes_that_period_first(billing, starter, clock):
    clock.now = utc(2026, 2, 25)  # the first period ended on 2026-02-15; cycle has not run
    change = billing.subscriptions.upgrade(starter, "pro")
    # the ended period was billed on starter; the upgrade is prorated in the new period
    # (2026-02-15 to 2026-03-15, 28 days, 18 left): 70 x 18/28 = 45.00
    assert change.invoice.total == Decimal("45.00")
    closed = [i for i in billing.invoices.list(starter) if i.kind == "subscription"]
    assert [(i.period_start, i.total) for i in closed] == [(utc(2026, 1, 15), Decimal("29.00"))]


def test_a_scheduled_cancellation_past_its_date_cannot_be_reactivated(billing, customer_id, clock):
    billing.subscriptions.cancel(customer_id)
    clock.now = utc(2026, 2, 16)
    with pytest.raises(NotFound, match="^No subscription found to reactivate"):
        billing.subscriptions.reactivate(customer_id)


def test_canceling_during_a_trial_owes_nothing(billing, clock):
    billing.customers.create(email="t@example.com", name="Trial", customer_id="cus_trial")
    billing.subscriptions.start("cus_trial", "pro", trial_days=14)
    billing.usage.record("api", 2_000_000, customer_id="cus_trial", at=utc(2026, 1, 16))
    clock.now = utc(2026, 1, 20)
    change = billing.subscriptions.cancel("cus_trial", immediate=True)
    assert change.invoice.total == 0
    assert change.invoice.status == "paid"


def test_yearly_upgrade_prorates_the_yearly_prices(billing, clock):
    billing.customers.create(email="y@example.com", name="Yearly", customer_id="cus_year")
    billing.subscriptions.start("cus_year", "starter", interval="year")
    clock.now = utc(2026, 7, 15)
    # $290 -> $990 a year; 184 of 365 days left: 700 x 184/365 = 352.876... -> 352.88
    assert billing.subscriptions.upgrade("cus_year", "pro").invoice.total == Decimal("352.88")
