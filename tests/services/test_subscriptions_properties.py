"""Random sequences of plan changes and cycles keep the billing invariants (SQLite)."""

import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nself_billing import Billing, BillingError
from nself_billing.domain.periods import period_at
from tests.conftest import FrozenClock

#: the subscription starts 2026-01-31 10:00, anchored at midnight: Feb 28, Mar 31, Apr 30...
ANCHOR = datetime(2026, 1, 31, tzinfo=UTC)

PRICES = {"free": Decimal("0.00"), "starter": Decimal("29.00"), "pro": Decimal("99.00")}
actions = st.tuples(
    st.sampled_from(["upgrade", "downgrade", "cancel", "reactivate", "wait", "cycle"]),
    st.sampled_from(sorted(PRICES)),
    st.integers(min_value=0, max_value=45),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(actions, max_size=14), start_plan=st.sampled_from(sorted(PRICES)))
def test_no_period_costs_more_than_its_highest_plan_and_none_is_billed_twice(steps, start_plan):
    clock = FrozenClock(datetime(2026, 1, 31, 10, tzinfo=UTC))
    with (
        tempfile.TemporaryDirectory() as root,
        Billing.from_env({"NSELF_ROOT": root}, clock=clock) as billing,
    ):
        billing.customers.create(email="p@example.com", name="P", customer_id="cus_p")
        billing.subscriptions.start("cus_p", start_plan)
        for action, plan, days in steps:
            try:
                if action == "upgrade":
                    billing.subscriptions.upgrade("cus_p", plan)
                elif action == "downgrade":
                    billing.subscriptions.downgrade("cus_p", plan)
                elif action == "cancel":
                    billing.subscriptions.cancel("cus_p", immediate=days % 5 == 0)
                elif action == "reactivate":
                    billing.subscriptions.reactivate("cus_p")
                elif action == "cycle":
                    billing.cycle.run()
                else:
                    clock.advance(days=days, hours=days % 7)
            except BillingError:
                pass
        billing.cycle.run()
        invoices = billing.invoices.list("cus_p")
        closes = [i.period_start for i in invoices if i.kind in ("subscription", "final")]
        assert len(closes) == len(set(closes)), "a period was invoiced twice"
        charged: dict[datetime, Decimal] = defaultdict(Decimal)
        for invoice in invoices:
            detailed = billing.invoices.get("cus_p", invoice.invoice_id)
            for line in detailed.lines:
                assert line.amount == line.amount.quantize(Decimal("0.01"))
                assert line.kind.value in ("base", "proration")  # no usage was recorded
                charged[period_at(ANCHOR, line.period.start).start] += line.amount
            assert detailed.total == sum((line.amount for line in detailed.lines), Decimal(0))
        for start, amount in charged.items():
            assert amount <= PRICES["pro"], (start, amount)
