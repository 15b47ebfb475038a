"""What Stripe would charge equals what the local engine charges, to the cent.

Each scenario plays one history (a customer, its plan changes, its usage, the months passing)
twice: on the local engine, and through the Stripe provider against a fake Stripe that bills
by Stripe's documented rules (``tests/support/stripe_sim.py``). The usage reaches the fake's
meters through our own outbox (``sync``). The charges are compared per period and kind (plan
price, overage per service, proration): Stripe bills the plan price in advance and the usage in
arrears, the local engine both at the period's close, so the same period's lines are compared.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from nself_billing import Billing
from nself_billing.providers.stripe import StripeProvider
from nself_billing.settings import Settings
from tests.conftest import FrozenClock
from tests.support.stripe_sim import FakeStripe

START = datetime(2026, 4, 1, tzinfo=UTC)  # 00:00 UTC: local periods start at midnight too
MAY_1 = datetime(2026, 5, 1, tzinfo=UTC)
JUNE_1 = datetime(2026, 6, 1, tzinfo=UTC)
JULY_1 = datetime(2026, 7, 1, tzinfo=UTC)

#: the pro plan's limits (DEFAULT_PLANS)
PRO_LIMITS = {
    "api": Decimal(1_000_000),
    "storage": Decimal(100),
    "bandwidth": Decimal(500),
    "compute": Decimal(50),
    "database": Decimal(5_000_000),
    "functions": Decimal(100_000),
}

Charges = dict[tuple[datetime, str], Decimal]


class History:
    """One customer's history, played on both engines at once."""

    def __init__(self, local: Billing, remote: Billing, fake: FakeStripe, clock: FrozenClock):
        self.local, self.remote, self.fake, self.clock = local, remote, fake, clock
        self.local_id = "cus_local00000001"
        self.local.customers.create(email="ada@example.com", customer_id=self.local_id)
        self.remote_id = self.remote.customers.create(email="ada@example.com").customer_id
        self._events = 0

    def start(self, plan: str, *, trial_days: int = 0) -> None:
        self.local.subscriptions.start(self.local_id, plan, trial_days=trial_days)
        self.remote.subscriptions.start(self.remote_id, plan, trial_days=trial_days)

    def statuses(self) -> tuple[str, str]:
        return (
            self.local.subscriptions.current(self.local_id).status,
            self.remote.subscriptions.current(self.remote_id).status,
        )

    def use(self, **quantities: int | str) -> None:
        for service, quantity in quantities.items():
            self._events += 1
            key = f"event-{self._events}"
            self.local.usage.record(
                service, quantity, customer_id=self.local_id, idempotency_key=key
            )
            self.remote.usage.record(
                service, quantity, customer_id=self.remote_id, idempotency_key=key
            )

    def upgrade(self, plan: str) -> None:
        self.local.subscriptions.upgrade(self.local_id, plan)
        self.remote.subscriptions.upgrade(self.remote_id, plan)

    def downgrade(self, plan: str) -> None:
        self.local.subscriptions.downgrade(self.local_id, plan)
        self.remote.subscriptions.downgrade(self.remote_id, plan)

    def cancel(self, *, immediate: bool = False) -> None:
        self.local.subscriptions.cancel(self.local_id, immediate=immediate)
        self.remote.subscriptions.cancel(self.remote_id, immediate=immediate)

    def move_to(self, moment: datetime) -> None:
        """Time passes: our usage reaches Stripe's meters, both engines close what ended."""
        self.remote.outbox.drain()
        self.clock.now = moment
        self.fake.advance()
        self.local.cycle.run()

    def local_charges(self) -> Charges:
        found: Charges = {}
        for listed in self.local.invoices.list(self.local_id):
            invoice = self.local.invoices.get(self.local_id, listed.invoice_id)
            for line in invoice.lines:
                kind = line.kind.value if line.service is None else f"overage:{line.service}"
                kind = {"base": "base"}.get(kind, kind)
                assert line.period is not None
                key = (line.period.start, kind)
                found[key] = found.get(key, Decimal(0)) + line.amount
        return {k: v for k, v in found.items() if v != 0}

    def stripe_charges(self, *, before: datetime) -> Charges:
        """Stripe's lines for periods that began before ``before`` (the plan price of the
        period still open is billed by Stripe in advance, by the local engine at its close)."""
        found: Charges = {}
        for (start, _end, kind), amount in self.fake.charges(self.remote_id).items():
            if start < before:
                found[(start, kind)] = found.get((start, kind), Decimal(0)) + amount
        return found

    def assert_same_charges(self, *, open_period_start: datetime) -> Charges:
        local = self.local_charges()
        assert self.stripe_charges(before=open_period_start) == local
        return local


@pytest.fixture
def history(env: dict[str, str], tmp_path: Path) -> Iterator[History]:
    clock = FrozenClock(START)
    local_env = {k: v for k, v in env.items() if k != "BILLING_DATABASE_URL"}
    local_env["NSELF_ROOT"] = str(tmp_path / "local-engine")
    local = Billing.from_env(local_env, clock=clock)
    fake = FakeStripe(clock)
    stripe_env = env | {"STRIPE_SECRET_KEY": "sk_test_charges"}
    provider = StripeProvider(
        Settings.from_env(stripe_env), http_client=fake, max_network_retries=0
    )
    remote = Billing.from_env(stripe_env, clock=clock, provider=provider)
    remote.stripe.plan_sync()
    try:
        yield History(local, remote, fake, clock)
    finally:
        local.close()
        remote.close()


def _at_limits(history: History, share: Decimal) -> None:
    history.use(**{s: str(limit * share) for s, limit in PRO_LIMITS.items()})


def test_a_customer_under_its_limits_pays_the_plan_price_only(history: History) -> None:
    history.start("pro")
    _at_limits(history, Decimal("0.5"))
    history.move_to(MAY_1)
    assert history.assert_same_charges(open_period_start=MAY_1) == {
        (START, "base"): Decimal("99.00")
    }


def test_a_customer_exactly_at_its_limits_pays_no_overage(history: History) -> None:
    history.start("pro")
    _at_limits(history, Decimal(1))
    history.move_to(MAY_1)
    assert history.assert_same_charges(open_period_start=MAY_1) == {
        (START, "base"): Decimal("99.00")
    }


def test_a_customer_past_its_limits_pays_the_overage_beyond_them(history: History) -> None:
    history.start("pro")
    history.use(api=1_200_000, bandwidth=650, storage=100)
    history.move_to(MAY_1)
    assert history.assert_same_charges(open_period_start=MAY_1) == {
        (START, "base"): Decimal("99.00"),
        (START, "overage:api"): Decimal("1.60"),  # 200,000 x $0.000008
        (START, "overage:bandwidth"): Decimal("7.50"),  # 150 GB x $0.05
    }


def test_an_upgrade_mid_period_prorates_and_rates_the_usage_at_the_new_plan(
    history: History,
) -> None:
    history.start("starter")
    history.use(api=150_000)  # past starter's 100K, within pro's 1M
    history.move_to(START + timedelta(days=10, hours=7, seconds=13))
    history.upgrade("pro")
    history.use(api=1_000_000, functions=120_000)
    history.move_to(MAY_1)
    charges = history.assert_same_charges(open_period_start=MAY_1)
    assert charges[(START, "base")] == Decimal("29.00")
    assert charges[(START, "overage:api")] == Decimal("1.20")  # 150,000 x $0.000008
    assert charges[(START, "overage:functions")] == Decimal("0.30")


def test_a_trial_bills_the_share_of_its_period_after_it_then_whole_periods(
    history: History,
) -> None:
    """A 10-day trial from April 1: nothing until April 11, then April's share after the
    trial, then whole months from the anniversary, on both engines. Stripe gets the trial as
    ``trial_end`` and ``billing_cycle_anchor`` (May 1), so its cycle keeps the anniversary
    instead of restarting when the trial ends; its prorated line covers April 11 to May 1."""
    trial_end = START + timedelta(days=10)
    history.start("pro", trial_days=10)
    assert history.statuses() == ("trialing", "trialing")
    _at_limits(history, Decimal("0.5"))  # within the limits: no overage in April
    history.move_to(trial_end + timedelta(hours=1))
    history.move_to(MAY_1)
    assert history.statuses() == ("active", "active")
    history.use(api=1_200_000)  # May: 200,000 beyond pro's 1M
    history.move_to(JUNE_1)
    share = Decimal("66.00")  # 99 x 20 of April's 30 days
    assert history.local_charges() == {
        (START, "base"): share,
        (MAY_1, "base"): Decimal("99.00"),
        (MAY_1, "overage:api"): Decimal("1.60"),
    }
    stripe = {
        key: amount
        for key, amount in history.fake.charges(history.remote_id).items()
        if key[0] < JUNE_1  # June's price, billed in advance, is the period still open
    }
    assert stripe == {
        (trial_end, MAY_1, "proration"): share,
        (MAY_1, JUNE_1, "base"): Decimal("99.00"),
        (MAY_1, JUNE_1, "overage:api"): Decimal("1.60"),
    }


def test_a_downgrade_keeps_billing_usage_until_the_period_ends(history: History) -> None:
    history.start("pro")
    history.use(api=1_100_000)
    history.downgrade("starter")
    history.use(bandwidth=600)
    history.move_to(MAY_1)
    history.use(api=300_000, bandwidth=60)
    history.move_to(JUNE_1)
    assert history.assert_same_charges(open_period_start=JUNE_1) == {
        (START, "base"): Decimal("99.00"),
        (START, "overage:api"): Decimal("0.80"),
        (START, "overage:bandwidth"): Decimal("5.00"),
        (MAY_1, "base"): Decimal("29.00"),
        (MAY_1, "overage:api"): Decimal("2.00"),  # 200,000 beyond 100K at $0.00001
        (MAY_1, "overage:bandwidth"): Decimal("0.80"),  # 10 GB beyond 50 at $0.08
    }


def test_an_immediate_cancel_bills_the_usage_still_pending(history: History) -> None:
    history.start("pro")
    history.move_to(START + timedelta(days=20))
    history.use(api=1_500_000)  # still in our outbox when the cancel is asked
    history.clock.advance(minutes=5)
    history.cancel(immediate=True)
    assert history.assert_same_charges(open_period_start=MAY_1) == {
        (START, "base"): Decimal("99.00"),
        (START, "overage:api"): Decimal("4.00"),
    }
    assert history.remote.outbox.status().pending == 0


def test_a_portal_cancellation_is_seen_and_can_be_reactivated(history: History) -> None:
    history.start("pro")
    (sub,) = history.fake.subscriptions.values()
    # the Customer Portal in the flexible billing mode: cancel_at set, cancel_at_period_end false
    sub.cancel_at = sub.period_end
    seen = history.remote.subscriptions.current(history.remote_id)
    assert seen.cancel_at_period_end
    history.remote.subscriptions.reactivate(history.remote_id)
    assert sub.cancel_at is None
    assert not history.remote.subscriptions.current(history.remote_id).cancel_at_period_end
    history.use(api=1_010_000)
    history.move_to(MAY_1)
    history.move_to(JUNE_1)
    assert history.assert_same_charges(open_period_start=JUNE_1) == {
        (START, "base"): Decimal("99.00"),
        (START, "overage:api"): Decimal("0.08"),
        (MAY_1, "base"): Decimal("99.00"),
    }


def test_a_portal_cancellation_not_reactivated_ends_the_subscription(history: History) -> None:
    history.start("pro")
    (sub,) = history.fake.subscriptions.values()
    sub.cancel_at = sub.period_end
    history.local.subscriptions.cancel(history.local_id)
    history.use(bandwidth=510)
    history.move_to(MAY_1)
    assert history.assert_same_charges(open_period_start=MAY_1) == {
        (START, "base"): Decimal("99.00"),
        (START, "overage:bandwidth"): Decimal("0.50"),
    }
    assert sub.status == "canceled"


def test_a_first_payment_that_needs_the_customer_leaves_the_subscription_incomplete(
    history: History,
) -> None:
    history.fake.needs_action.add(history.remote_id)
    started = history.remote.subscriptions.start(history.remote_id, "pro")
    assert started.status == "incomplete"
    (invoice,) = history.fake.invoices.values()
    assert invoice.status == "open"
    assert history.remote.stripe.payment_url(history.remote_id) == (
        f"https://invoice.stripe.com/i/{invoice.id}"
    )


def test_a_customer_cancelled_now_on_stripe_can_be_subscribed_again(history: History) -> None:
    history.start("pro")
    history.move_to(START + timedelta(days=3))
    history.cancel(immediate=True)
    history.local.subscriptions.start(history.local_id, "starter")
    again = history.remote.subscriptions.start(history.remote_id, "starter")
    assert (again.plan_name, again.status) == ("starter", "active")
    history.use(api=100_500)
    history.move_to(START + timedelta(days=3, minutes=5))
    assert history.remote.subscriptions.current(history.remote_id).subscription_id == (
        again.subscription_id
    )


def test_quotas_follow_the_first_payment(history: History) -> None:
    history.fake.needs_action.add(history.remote_id)
    history.remote.subscriptions.start(history.remote_id, "pro")
    assert history.remote.quotas.limits(history.remote_id, fresh=True).plan_name == "free"
    (invoice,) = history.fake.invoices.values()
    asked = history.remote.invoices.pay(history.remote_id, invoice.id)
    assert (asked.state, asked.action_url) == (
        "requires_action",
        f"https://invoice.stripe.com/i/{invoice.id}",
    )
    assert asked.invoice.status == "open"
    history.fake.needs_action.clear()  # the customer authenticated: Stripe charges again
    paid = history.remote.invoices.pay(history.remote_id, invoice.id)
    assert (paid.state, paid.invoice.status) == ("paid", "paid")
    history.remote.subscriptions.current(history.remote_id)
    assert history.remote.quotas.limits(history.remote_id, fresh=True).plan_name == "pro"


def test_a_declined_upgrade_charge_keeps_the_old_plan(history: History) -> None:
    history.start("starter")
    history.move_to(START + timedelta(days=10))
    history.fake.declines.add(history.remote_id)
    history.remote.subscriptions.upgrade(history.remote_id, "pro")
    (sub,) = history.fake.subscriptions.values()
    assert sub.pending_update is not None
    assert history.remote.subscriptions.current(history.remote_id).plan_name == "starter"
    history.use(api=150_000)
    history.move_to(MAY_1)
    # still billed as starter: 50,000 requests beyond its 100K at $0.00001
    assert history.fake.charges(history.remote_id)[(START, MAY_1, "overage:api")] == Decimal("0.50")


def test_a_late_event_with_an_older_state_does_not_undo_an_upgrade(history: History) -> None:
    from nself_billing.services.stripe.webhook_events import apply_stripe_event
    from nself_billing.store.tables import subscriptions

    history.start("starter")
    (sub,) = history.fake.subscriptions.values()
    before = history.fake._sub_json(sub)
    history.move_to(START + timedelta(days=5))
    history.upgrade("pro")
    late = {
        "id": "evt_late",
        "object": "event",
        "type": "customer.subscription.updated",
        "created": int(START.timestamp()),
        "data": {"object": before},
    }
    assert apply_stripe_event(history.remote.context, late) == "processed"
    with history.remote.context.db.read() as conn:
        plan = conn.execute(
            subscriptions.select().where(subscriptions.c.subscription_id == sub.id)
        ).one()
    assert plan.plan_name == "pro"  # read again from Stripe, not the delivered snapshot


def test_customer_create_is_journaled_not_keyed_by_the_email(history: History) -> None:
    from nself_billing.errors import ProviderError

    remote = history.remote
    other = remote.customers.create(email="ada@example.com", name="Another tenant")
    assert other.customer_id != history.remote_id  # one billing email, two tenants
    history.fake.lose_next.add("/v1/customers")
    with pytest.raises(ProviderError):
        remote.customers.create(email="bo@example.com", name="Bo")
    again = remote.customers.create(email="bo@example.com", name="Bo")  # replays the first
    bos = [c for c in history.fake.customers.values() if c.get("email") == "bo@example.com"]
    assert [c["id"] for c in bos] == [again.customer_id]
    assert [c.customer_id for c in remote.customers.list()].count(again.customer_id) == 1
    renamed = remote.customers.create(email="bo@example.com", name="Bo Corrected")
    assert renamed.customer_id != again.customer_id


def test_an_upgrade_at_any_second_is_prorated_to_the_same_cent(history: History) -> None:
    history.start("starter")
    # 9 hours in: one rounding of 70 x f would give 69.13, Stripe's two lines 69.12
    history.move_to(START + timedelta(hours=9))
    history.upgrade("pro")
    history.move_to(MAY_1)
    charges = history.assert_same_charges(open_period_start=MAY_1)
    assert charges[(START + timedelta(hours=9), "proration")] == Decimal("69.12")


def test_invoice_show_lists_stripes_lines(history: History) -> None:
    history.start("pro")
    history.use(api=1_200_000)
    history.move_to(MAY_1)
    renewal = next(i for i in history.fake.invoices.values() if i.reason == "subscription_cycle")
    shown = history.remote.invoices.get(history.remote_id, renewal.id)
    assert len(shown.lines) == 7  # every metered item has its line, $0.00 within the quota
    assert [
        (line.kind.value, line.service, line.amount) for line in shown.lines if line.amount
    ] == [
        ("overage", "api", Decimal("1.60")),
        ("base", None, Decimal("99.00")),
    ]
    assert shown.total == Decimal("100.60")


def test_an_immediate_cancel_waits_for_no_backoff_and_stops_if_usage_cannot_be_sent(
    history: History,
) -> None:
    from nself_billing.errors import ProviderError

    history.start("pro")
    history.use(api=1_100_000)
    history.clock.advance(minutes=5)
    history.fake.lose_next.add("/v2/billing/meter_event_stream")  # a sync that failed...
    history.remote.outbox.drain(max_retries=0)
    assert history.remote.outbox.status().pending == 1  # ...left it waiting for a retry
    history.cancel(immediate=True)  # sent at once, then invoiced
    assert history.assert_same_charges(open_period_start=MAY_1) == {
        (START, "base"): Decimal("99.00"),
        (START, "overage:api"): Decimal("0.80"),
    }
    history.start("pro")
    history.use(api=10)
    history.fake.down.add("/v2/billing/meter_event_stream")
    with pytest.raises(ProviderError, match="not cancelled"):
        history.remote.subscriptions.cancel(history.remote_id, immediate=True)
    assert history.remote.subscriptions.current(history.remote_id).status == "active"


def test_an_upgrade_after_a_scheduled_downgrade_replaces_it(history: History) -> None:
    history.start("starter")
    history.downgrade("free")
    history.move_to(START + timedelta(days=12, hours=5))
    history.upgrade("pro")
    history.use(api=1_050_000)
    history.move_to(MAY_1)
    history.move_to(JUNE_1)
    charges = history.assert_same_charges(open_period_start=JUNE_1)
    assert charges[(MAY_1, "base")] == Decimal("99.00")  # still pro: the downgrade is gone
    assert charges[(START, "overage:api")] == Decimal("0.40")
