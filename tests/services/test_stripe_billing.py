"""Stripe use cases: Stripe first (recorded through the SDK's http_client hook), then the
local mirror, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from nself_billing import Billing
from nself_billing.errors import ConfigError, ProviderError
from nself_billing.providers.stripe import StripeProvider
from nself_billing.settings import Settings
from nself_billing.store.tables import payment_methods, plans, subscriptions
from tests.conftest import FrozenClock
from tests.support.stripe_fake import RecordingClient, fixture, listing

CUSTOMER = "cus_T3st0000000001"


@pytest.fixture
def http() -> RecordingClient:
    return RecordingClient()


@pytest.fixture
def on_stripe(env: dict[str, str], clock: FrozenClock, http: RecordingClient) -> Iterator[Billing]:
    environ = env | {
        "STRIPE_SECRET_KEY": "sk_test_services",
        "NSELF_BASE_URL": "https://example.com",
    }
    provider = StripeProvider(Settings.from_env(environ), http_client=http)
    handle = Billing.from_env(environ, clock=clock, provider=provider)
    yield handle
    handle.close()


def test_the_stripe_use_cases_need_the_stripe_provider(billing: Billing) -> None:
    with pytest.raises(ConfigError, match="needs the Stripe provider"):
        billing.stripe.plan_sync()


def test_plan_sync_stores_the_stripe_ids_on_the_plans(
    on_stripe: Billing, http: RecordingClient
) -> None:
    with on_stripe.context.db.read() as conn:
        names = sorted(conn.execute(select(plans.c.plan_name)).scalars())
    meters = [
        fixture("meter", id=f"mtr_{s}", event_name=f"nself_{s}")
        for s in ("api", "storage", "bandwidth", "compute", "database", "functions")
    ]
    http.expect("get", "/v1/billing/meters", listing(*meters))
    made = 0  # meters exist, products exist, every price is created
    for plan in on_stripe.plans.list():
        overage = [q for q in plan.quotas if q.overage_price > 0]
        keys = 2 + len(overage)
        http.expect("get", "/v1/prices", listing())
        if keys > 10:
            http.expect("get", "/v1/prices", listing())
        http.expect(
            "get",
            f"/v1/products/nself_plan_{plan.name}",
            {"id": f"nself_plan_{plan.name}", "object": "product"},
        )
        for interval, amount in (("month", plan.price_monthly), ("year", plan.price_yearly)):
            if amount is not None:
                made += 1
                http.expect(
                    "post", "/v1/prices", {"id": f"price_{plan.name}_{interval}", "object": "price"}
                )
        for _ in overage:
            http.expect("post", "/v1/prices", {"id": f"price_{plan.name}_over", "object": "price"})
    entries = on_stripe.stripe.plan_sync()
    http.assert_done()
    assert {e.plan_name for e in entries} == set(names)
    pro = on_stripe.stripe.price_id("pro", "month")
    assert pro == "price_pro_month"
    assert on_stripe.stripe.price_id("pro", "year") == "price_pro_year"
    with on_stripe.context.db.read() as conn:
        product = conn.execute(
            select(plans.c.stripe_product_id).where(plans.c.plan_name == "pro")
        ).scalar()
    assert product == "nself_plan_pro"
    assert made >= 2


def test_a_downgrade_is_mirrored_as_a_scheduled_change(
    on_stripe: Billing, http: RecordingClient
) -> None:
    subscription = fixture("subscription")
    free = {
        **subscription["items"]["data"][0]["price"],
        "id": "price_FreeMonthly",
        "lookup_key": "nself_free_monthly",
    }
    http.expect("get", "/v1/subscriptions", listing(subscription))
    http.expect("get", "/v1/subscriptions/sub_T3st0000000001", subscription)
    http.expect("post", "/v1/subscription_schedules", fixture("subscription_schedule"))
    http.expect("get", "/v1/prices", listing(free))
    http.expect("get", "/v1/prices", listing())  # the free plan meters nothing
    http.expect(
        "post", "/v1/subscription_schedules/sub_sched_T3st000001", fixture("subscription_schedule")
    )
    http.expect(
        "get",
        "/v1/subscriptions/sub_T3st0000000001",
        {**subscription, "schedule": "sub_sched_T3st000001"},
    )
    on_stripe.stripe.downgrade(CUSTOMER, "free")
    with on_stripe.context.db.read() as conn:
        row = conn.execute(select(subscriptions)).one()
    assert (row.plan_name, row.scheduled_plan_name, row.provider_schedule_id) == (
        "starter",
        "free",
        "sub_sched_T3st000001",
    )


def test_payment_methods_listed_by_stripe_replace_the_mirror(
    on_stripe: Billing, http: RecordingClient
) -> None:
    http.expect("get", f"/v1/customers/{CUSTOMER}", fixture("customer"))
    http.expect("get", "/v1/payment_methods", listing(fixture("payment_method")))
    on_stripe.stripe.payment_methods(CUSTOMER)
    http.expect("get", f"/v1/customers/{CUSTOMER}", fixture("customer"))
    http.expect("get", "/v1/payment_methods", listing())
    on_stripe.stripe.payment_methods(CUSTOMER)
    with on_stripe.context.db.read() as conn:
        row = conn.execute(select(payment_methods)).one()
    assert row.detached_at is not None


def test_an_invoice_pdf_is_written_to_the_exports_folder(
    on_stripe: Billing, http: RecordingClient
) -> None:
    http.expect("get", "/v1/invoices/in_T3st0000000001", fixture("invoice"))
    http.expect("get", "/invoice/acct_1/test_T3st/pdf", b"%PDF-1.7 stripe")
    path = on_stripe.stripe.download_invoice("in_T3st0000000001")
    assert path == on_stripe.settings.export_dir / "in_T3st0000000001.pdf"
    assert Path(path).read_bytes() == b"%PDF-1.7 stripe"


def test_the_portal_returns_to_the_base_url(on_stripe: Billing, http: RecordingClient) -> None:
    http.expect("post", "/v1/billing_portal/sessions", fixture("billing_portal_session"))
    assert on_stripe.stripe.portal_url(CUSTOMER).startswith("https://billing.stripe.com/")
    assert http.requests[0].form["return_url"] == "https://example.com"


def test_a_payment_with_an_unknown_outcome_is_retried_with_the_same_key(
    on_stripe: Billing, http: RecordingClient
) -> None:
    for _ in range(3):  # the SDK's own retries, then the command fails
        http.expect("post", "/v1/invoices/in_T3st0000000001/pay", fixture("error_api"), status=503)
    with pytest.raises(ProviderError):
        on_stripe.stripe.pay_invoice("in_T3st0000000001")
    paid = fixture("invoice", status="paid")
    http.expect("post", "/v1/invoices/in_T3st0000000001/pay", paid)
    on_stripe.stripe.pay_invoice("in_T3st0000000001")  # the re-run
    keys = {r.idempotency_key for r in http.requests}
    assert len(keys) == 1 and next(iter(keys)).startswith("nself:pay:in_T3st0000000001:")


def test_a_declined_payment_is_tried_again_with_a_new_key(
    on_stripe: Billing, http: RecordingClient
) -> None:
    http.expect(
        "post", "/v1/invoices/in_T3st0000000001/pay", fixture("error_card_declined"), status=402
    )
    with pytest.raises(ProviderError, match="declined"):
        on_stripe.stripe.pay_invoice("in_T3st0000000001")
    http.expect("post", "/v1/invoices/in_T3st0000000001/pay", fixture("invoice", status="paid"))
    on_stripe.stripe.pay_invoice("in_T3st0000000001")
    first, second = (r.idempotency_key for r in http.requests)
    assert first != second


def test_cancel_reactivate_cancel_sends_three_distinct_keys(
    on_stripe: Billing, http: RecordingClient
) -> None:
    active = fixture("subscription")
    ending = fixture("subscription", cancel_at_period_end=True)
    for before, after in ((active, ending), (ending, active), (active, ending)):
        http.expect("get", "/v1/subscriptions", listing(before))
        http.expect("post", "/v1/subscriptions/sub_T3st0000000001", after)
    on_stripe.stripe.cancel(CUSTOMER)
    on_stripe.stripe.reactivate(CUSTOMER)
    on_stripe.stripe.cancel(CUSTOMER)
    keys = [r.idempotency_key for r in http.requests if r.method == "post"]
    assert len(set(keys)) == 3
    assert [r.form for r in http.requests if r.method == "post"] == [
        {"cancel_at_period_end": "true"},
        {"cancel_at_period_end": "false"},
        {"cancel_at_period_end": "true"},
    ]


def test_a_subscription_started_on_stripe_is_mirrored(
    on_stripe: Billing, http: RecordingClient
) -> None:
    monthly = fixture("subscription")["items"]["data"][0]["price"]
    http.expect("get", "/v1/prices", listing(monthly))
    http.expect("get", "/v1/prices", listing())
    http.expect("post", "/v1/subscriptions", fixture("subscription"))
    http.expect("get", "/v1/subscriptions/sub_T3st0000000001", fixture("subscription"))
    started = on_stripe.stripe.start(CUSTOMER, "starter")
    assert started.subscription_id == "sub_T3st0000000001"
    assert http.requests[2].idempotency_key.startswith(f"nself:subscribe:{CUSTOMER}:starter:")
    with on_stripe.context.db.read() as conn:
        row = conn.execute(select(subscriptions)).one()
    assert (row.plan_name, row.status) == ("starter", "active")
