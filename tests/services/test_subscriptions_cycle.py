"""Closing periods: rating, idempotency, scheduled changes, month ends, late usage."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text

D = Decimal


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def count(billing, sql):
    return int(billing.queries.render(sql))


def lines_of(billing, customer_id, invoice_id):
    return [
        (line.kind.value, line.service, line.amount)
        for line in billing.invoices.get(customer_id, invoice_id).lines
    ]


def test_a_closed_period_bills_base_and_overage_and_opens_the_next(billing, customer_id, clock):
    billing.usage.record("api", 1_150_000, customer_id=customer_id, at=utc(2026, 1, 20))
    billing.usage.record("bandwidth", "512.5", customer_id=customer_id, at=utc(2026, 2, 14, 23))
    billing.usage.record("api", 5, customer_id=customer_id, at=utc(2026, 2, 15))  # next period
    clock.now = utc(2026, 2, 15, 0, 5)
    result = billing.cycle.run()
    assert (result.closed, len(result.invoice_ids), result.total) == (1, 1, D("100.83"))
    [invoice_id] = result.invoice_ids
    assert lines_of(billing, customer_id, invoice_id) == [
        ("base", None, D("99.00")),
        ("overage", "api", D("1.20")),
        ("overage", "bandwidth", D("0.63")),
    ]
    invoice = billing.invoices.get(customer_id, invoice_id)
    assert (invoice.status, invoice.period_start, invoice.period_end) == (
        "open",
        utc(2026, 1, 15),
        utc(2026, 2, 15),
    )
    subscription = billing.subscriptions.current(customer_id)
    assert (subscription.period.start, subscription.period.end) == (
        utc(2026, 2, 15),
        utc(2026, 3, 15),
    )


def test_closing_a_period_twice_issues_one_invoice(billing, customer_id, clock):
    clock.now = utc(2026, 2, 15, 1)
    assert billing.cycle.run().closed == 1
    assert billing.cycle.run().closed == 0
    assert count(billing, "SELECT COUNT(*) FROM billing_invoices") == 1


def test_nothing_is_due_before_the_period_ends(billing, customer_id, clock):
    clock.now = utc(2026, 2, 14, 23, 59, 59)
    assert billing.cycle.run().closed == 0


def test_a_cycle_run_months_late_closes_each_period_once(billing, customer_id, clock):
    clock.now = utc(2026, 5, 20)
    result = billing.cycle.run()
    assert (result.closed, result.total) == (4, D("396.00"))
    periods = billing.queries.render(
        "SELECT period_start FROM billing_invoices ORDER BY period_start"
    ).splitlines()
    assert [p[:10] for p in periods] == ["2026-01-15", "2026-02-15", "2026-03-15", "2026-04-15"]


def test_month_end_anchor_renews_feb_28_then_mar_31(billing, clock):
    clock.now = utc(2026, 1, 31, 9)
    billing.customers.create(email="m@example.com", name="Month End", customer_id="cus_me")
    billing.subscriptions.start("cus_me", "starter")
    clock.now = utc(2026, 2, 28, 0, 1)
    billing.cycle.run()
    period = billing.subscriptions.current("cus_me").period
    assert (period.start, period.end) == (utc(2026, 2, 28), utc(2026, 3, 31))
    clock.now = utc(2026, 3, 31, 0, 1)
    billing.cycle.run()
    period = billing.subscriptions.current("cus_me").period
    assert (period.start, period.end) == (utc(2026, 3, 31), utc(2026, 4, 30))


def test_upgrade_then_downgrade_bills_no_more_than_the_higher_plan(billing, clock):
    billing.customers.create(email="u@example.com", name="Up Down", customer_id="cus_ud")
    billing.subscriptions.start("cus_ud", "starter")
    clock.now = utc(2026, 1, 25)
    upgrade = billing.subscriptions.upgrade("cus_ud", "pro")  # 47.41 now
    billing.subscriptions.downgrade("cus_ud", "starter")  # at 2026-02-15
    clock.now = utc(2026, 2, 15, 1)
    result = billing.cycle.run()
    # the period began on starter: its $29 is billed at close; 29 + 47.41 = 76.41 <= 99
    assert result.total == D("29.00")
    assert upgrade.invoice.total + result.total == D("76.41")
    subscription = billing.subscriptions.current("cus_ud")
    assert (subscription.plan_name, subscription.scheduled_plan_name) == ("starter", None)
    assert result.downgraded == 1
    clock.now = utc(2026, 3, 15, 1)
    assert billing.cycle.run().total == D("29.00")


def test_scheduled_cancellation_ends_the_subscription_at_period_end(billing, customer_id, clock):
    billing.subscriptions.cancel(customer_id)
    clock.now = utc(2026, 2, 15, 1)
    result = billing.cycle.run()
    assert (result.closed, result.canceled, result.total) == (1, 1, D("99.00"))
    assert billing.subscriptions.find_current(customer_id) is None
    assert billing.queries.render("SELECT status FROM billing_subscriptions") == "canceled"
    clock.now = utc(2026, 6, 1)
    assert billing.cycle.run().closed == 0


def test_late_usage_is_billed_as_an_adjustment_on_the_next_invoice(billing, customer_id, clock):
    billing.usage.record("api", 1_150_000, customer_id=customer_id, at=utc(2026, 1, 20))
    clock.now = utc(2026, 2, 15, 1)
    billing.cycle.run()
    # 250,000 more requests of January arrive after the close
    billing.usage.record("api", 250_000, customer_id=customer_id, at=utc(2026, 2, 10))
    clock.now = utc(2026, 3, 15, 1)
    result = billing.cycle.run()
    [invoice_id] = result.invoice_ids
    assert lines_of(billing, customer_id, invoice_id) == [
        ("base", None, D("99.00")),
        ("adjustment", "api", D("2.00")),
    ]
    assert result.adjustments == 1
    # billed once: the next close adds nothing more
    clock.now = utc(2026, 4, 15, 1)
    assert billing.cycle.run().total == D("99.00")


def test_a_trial_bills_only_the_time_after_it(billing, clock):
    billing.customers.create(email="t@example.com", name="Trial", customer_id="cus_trial")
    subscription = billing.subscriptions.start("cus_trial", "pro", trial_days=14)
    assert subscription.status == "trialing"
    clock.now = utc(2026, 2, 15, 1)
    result = billing.cycle.run()
    # trial to 2026-01-29: 17 of 31 days billed, 99 x 17/31 = 54.290... -> 54.29
    assert result.total == D("54.29")
    assert billing.subscriptions.current("cus_trial").status == "active"


def test_customer_quota_override_rates_overage(billing, customer_id, clock):
    with billing.context.db.write() as conn:
        conn.execute(
            text(
                "INSERT INTO billing_quota_overrides (customer_id, service_name,"
                " limit_value) VALUES (:c, 'api', 2000000)"
            ),
            {"c": customer_id},
        )
    billing.usage.record("api", 1_150_000, customer_id=customer_id, at=utc(2026, 1, 20))
    clock.now = utc(2026, 2, 15, 1)
    assert billing.cycle.run().total == D("99.00")


def test_one_bad_subscription_does_not_hold_up_the_others(billing, customer_id, clock):
    billing.customers.create(email="b@example.com", name="Bad", customer_id="cus_bad")
    billing.subscriptions.start("cus_bad", "starter")
    with billing.context.db.write() as conn:
        conn.execute(
            text(
                "UPDATE billing_subscriptions SET plan_name = 'gone',"
                " period_plan_name = 'gone' WHERE customer_id = 'cus_bad'"
            )
        )
    clock.now = utc(2026, 2, 15, 1)
    result = billing.cycle.run()
    assert result.closed == 1
    [(failed_id, message)] = result.failures
    assert failed_id.startswith("sub_")
    assert message == "Plan not found: gone"
    assert count(billing, "SELECT COUNT(*) FROM billing_invoices") == 1


@pytest.mark.parametrize("batch_size", [1, 3])
def test_many_subscriptions_close_in_batches(billing, clock, batch_size):
    for i in range(7):
        billing.customers.create(email=f"c{i}@example.com", name=f"C{i}", customer_id=f"cus_{i}")
        billing.subscriptions.start(f"cus_{i}", "starter")
        billing.usage.record("api", 100_000 + 1000 * i, customer_id=f"cus_{i}", at=utc(2026, 1, 16))
    clock.now = utc(2026, 2, 15, 1)
    result = billing.cycle.run(batch_size=batch_size)
    # starter: 29 + i x 1000 x 0.00001 = 29 + 0.01 i
    assert result.closed == 7
    assert result.total == D("203.00") + D("0.21")
    assert count(billing, "SELECT COUNT(*) FROM billing_rated_usage") == 42


def test_with_a_remote_provider_the_local_engine_changes_nothing(billing, customer_id, env, clock):
    from nself_billing import Billing

    clock.now = utc(2026, 2, 15, 1)
    remote_env = env | {"STRIPE_SECRET_KEY": "sk_test_not_used"}
    with Billing.from_env(remote_env, clock=clock) as remote:
        assert remote.cycle.run().skipped_reason.startswith("periods are closed by the stripe")
    assert count(billing, "SELECT COUNT(*) FROM billing_invoices") == 0
