"""The Stripe adapter through the SDK's ``http_client=`` hook: each request's method, path,
parameters and idempotency key, answered with fixtures in the current API shape."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from nself_billing.errors import Conflict, ProviderError
from nself_billing.providers.port import CatalogPlan, MeterEvent, RemoteBilling
from nself_billing.providers.stripe import StripeProvider
from nself_billing.settings import Settings
from tests.support.stripe_fake import RecordingClient, fixture, listing

SECRET = "sk_test_51SecretValueThatMustNeverShow"


@pytest.fixture
def http() -> RecordingClient:
    return RecordingClient()


@pytest.fixture
def provider(http: RecordingClient, tmp_path: Path) -> StripeProvider:
    settings = Settings.from_env(
        {
            "NSELF_ROOT": str(tmp_path),
            "STRIPE_SECRET_KEY": SECRET,
            "STRIPE_API_BASE": "https://stripe.example/v1",
            "STRIPE_API_VERSION": "2026-10-28.endive",
        }
    )
    return StripeProvider(settings, http_client=http)


def test_the_adapter_implements_the_remote_billing_port(provider: StripeProvider) -> None:
    assert isinstance(provider, RemoteBilling)


def test_api_base_and_version_come_from_the_settings(
    provider: StripeProvider, http: RecordingClient
) -> None:
    http.expect("get", "/v1/customers/cus_T3st0000000001", fixture("customer"))
    provider.retrieve_customer("cus_T3st0000000001")
    sent = http.requests[0]
    assert sent.headers["Stripe-Version"] == "2026-10-28.endive"
    assert sent.headers["Authorization"] == f"Bearer {SECRET}"


def test_create_customer_sends_the_operation_key(
    provider: StripeProvider, http: RecordingClient
) -> None:
    http.expect("post", "/v1/customers", fixture("customer"))
    made = provider.create_customer(
        email="john@example.com",
        name="John Doe",
        phone=None,
        project_name="myproject",
        idempotency_key="customer-create:x",
    )
    assert made.customer_id == "cus_T3st0000000001"
    sent = http.requests[0]
    assert sent.form == {
        "email": "john@example.com",
        "name": "John Doe",
        "metadata[nself_project]": "myproject",
    }
    assert sent.idempotency_key == "customer-create:x"


def test_create_subscription_finds_prices_by_lookup_key(
    provider: StripeProvider, http: RecordingClient
) -> None:
    monthly = fixture("subscription")["items"]["data"][0]["price"]
    overage = fixture("subscription")["items"]["data"][1]["price"]
    http.expect("get", "/v1/prices", listing(monthly))
    http.expect("get", "/v1/prices", listing(overage))
    http.expect("post", "/v1/subscriptions", fixture("subscription"))
    subscription_id = provider.create_subscription(
        customer_id="cus_T3st0000000001",
        plan_name="starter",
        interval="month",
        trial=None,
        idempotency_key="subscription-start:cus_T3st0000000001:starter",
    )
    assert subscription_id == "sub_T3st0000000001"
    assert http.requests[0].query["lookup_keys[0]"] == "nself_starter_monthly"
    create = http.requests[2]
    assert create.form["customer"] == "cus_T3st0000000001"
    assert create.form["items[0][price]"] == "price_StarterMonthly"
    assert create.form["items[1][price]"] == "price_StarterApiOverage"
    assert create.idempotency_key == "subscription-start:cus_T3st0000000001:starter"


def test_subscription_periods_are_read_from_the_items(
    provider: StripeProvider, http: RecordingClient
) -> None:
    http.expect("get", "/v1/subscriptions/sub_T3st0000000001", fixture("subscription"))
    sub = provider.retrieve_subscription("sub_T3st0000000001")
    assert sub.plan_name == "starter"
    assert sub.current_period_start == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    assert sub.current_period_end == datetime(2026, 2, 15, 12, 0, tzinfo=UTC)


def test_upgrade_changes_the_item_price_and_invoices_the_proration_now(
    provider: StripeProvider, http: RecordingClient
) -> None:
    pro = {
        **fixture("subscription")["items"]["data"][0]["price"],
        "id": "price_ProMonthly",
        "lookup_key": "nself_pro_monthly",
        "metadata": {"nself_plan": "pro"},
    }
    pro_functions = {
        **fixture("subscription")["items"]["data"][1]["price"],
        "id": "price_ProFunctionsOverage",
        "lookup_key": "nself_pro_functions_overage",
        "metadata": {"nself_plan": "pro", "nself_service": "functions"},
    }
    http.expect("get", "/v1/subscriptions/sub_T3st0000000001", fixture("subscription"))
    http.expect("get", "/v1/prices", listing(pro))
    http.expect("get", "/v1/prices", listing(pro_functions))
    http.expect("post", "/v1/subscriptions/sub_T3st0000000001", fixture("subscription"))
    http.expect("post", "/v1/subscriptions/sub_T3st0000000001", fixture("subscription"))
    provider.upgrade_subscription(
        "sub_T3st0000000001",
        plan_name="pro",
        interval="month",
        idempotency_key="nself:upgrade:sub_T3st0000000001:pro",
    )
    update = http.requests[3]
    assert update.form["items[0][id]"] == "si_T3stLicensed01"
    assert update.form["items[0][price]"] == "price_ProMonthly"
    # pro meters functions, not api: a new item; the api item is removed afterwards
    assert update.form["items[1][price]"] == "price_ProFunctionsOverage"
    assert "items[1][id]" not in update.form
    assert update.form["proration_behavior"] == "always_invoice"
    assert update.form["payment_behavior"] == "pending_if_incomplete"
    assert update.idempotency_key == "nself:upgrade:sub_T3st0000000001:pro"
    drop = http.requests[4]
    assert drop.form == {
        "items[0][id]": "si_T3stMetered001",
        "items[0][deleted]": "true",
        "proration_behavior": "none",
    }
    assert drop.idempotency_key == "nself:upgrade:sub_T3st0000000001:pro:drop"


def test_downgrade_is_a_schedule_starting_at_the_period_end(
    provider: StripeProvider, http: RecordingClient
) -> None:
    free = {
        **fixture("subscription")["items"]["data"][0]["price"],
        "id": "price_FreeMonthly",
        "lookup_key": "nself_free_monthly",
    }
    http.expect("get", "/v1/subscriptions/sub_T3st0000000001", fixture("subscription"))
    http.expect("post", "/v1/subscription_schedules", fixture("subscription_schedule"))
    http.expect("get", "/v1/prices", listing(free))
    http.expect("get", "/v1/prices", listing())  # the free plan meters nothing
    http.expect(
        "post", "/v1/subscription_schedules/sub_sched_T3st000001", fixture("subscription_schedule")
    )
    http.expect(
        "get",
        "/v1/subscriptions/sub_T3st0000000001",
        fixture("subscription", schedule="sub_sched_T3st000001"),
    )
    sub = provider.schedule_downgrade(
        "sub_T3st0000000001",
        plan_name="free",
        interval="month",
        idempotency_key="nself:downgrade:x",
    )
    assert sub.schedule_id == "sub_sched_T3st000001"
    assert http.requests[1].form == {"from_subscription": "sub_T3st0000000001"}
    phases = http.requests[4].form
    # a phase's items are its whole item set: phase 0 keeps the metered item too
    assert phases["phases[0][items][0][price]"] == "price_StarterMonthly"
    assert phases["phases[0][items][0][quantity]"] == "1"
    assert phases["phases[0][items][1][price]"] == "price_StarterApiOverage"
    assert "phases[0][items][1][quantity]" not in phases
    assert phases["phases[0][end_date]"] == "1771156800"
    assert phases["phases[1][items][0][price]"] == "price_FreeMonthly"
    assert phases["proration_behavior"] == "none"
    assert phases["end_behavior"] == "release"


def test_cancel_at_period_end_and_immediately(
    provider: StripeProvider, http: RecordingClient
) -> None:
    http.expect(
        "post",
        "/v1/subscriptions/sub_T3st0000000001",
        fixture("subscription", cancel_at_period_end=True),
    )
    http.expect(
        "delete",
        "/v1/subscriptions/sub_T3st0000000001",
        fixture("subscription", status="canceled", ended_at=1768480000),
    )
    later = provider.cancel_subscription(
        "sub_T3st0000000001", immediate=False, idempotency_key="k1"
    )
    now = provider.cancel_subscription("sub_T3st0000000001", immediate=True, idempotency_key="k2")
    assert later.cancel_at_period_end and http.requests[0].form == {"cancel_at_period_end": "true"}
    assert now.status == "canceled"
    assert [r.idempotency_key for r in http.requests] == ["k1", "k2"]


def test_invoice_reads_the_subscription_from_its_parent(
    provider: StripeProvider, http: RecordingClient
) -> None:
    http.expect("get", "/v1/invoices", listing(fixture("invoice")))
    (invoice,) = provider.list_invoices("cus_T3st0000000001", limit=5)
    assert invoice.subscription_id == "sub_T3st0000000001"
    assert invoice.total == Decimal("99.00")
    assert http.requests[0].query == {"customer": "cus_T3st0000000001", "limit": "5"}


def test_paying_a_declined_card_is_one_clear_line(
    provider: StripeProvider, http: RecordingClient
) -> None:
    http.expect(
        "post", "/v1/invoices/in_T3st0000000001/pay", fixture("error_card_declined"), status=402
    )
    with pytest.raises(ProviderError) as caught:
        provider.pay_invoice("in_T3st0000000001", idempotency_key="nself:pay:in_T3st0000000001")
    assert caught.value.message == "Stripe API error: Your card was declined. (request req_000001)"
    assert caught.value.code == "card_declined"
    assert caught.value.http_status == 402
    assert http.requests[0].idempotency_key == "nself:pay:in_T3st0000000001"


def test_a_missing_object_is_a_404_provider_error(
    provider: StripeProvider, http: RecordingClient
) -> None:
    http.expect("get", "/v1/invoices/in_missing", fixture("error_resource_missing"), status=404)
    with pytest.raises(ProviderError, match=r"^Stripe API error: No such invoice: 'in_missing'"):
        provider.retrieve_invoice("in_missing")


def test_an_invalid_key_is_reported_without_the_key(
    provider: StripeProvider, http: RecordingClient
) -> None:
    http.expect("get", "/v1/balance", fixture("error_invalid_key"), status=401)
    with pytest.raises(ProviderError) as caught:
        provider.check_connection()
    assert caught.value.message == ("Stripe API error: Invalid API Key (check STRIPE_SECRET_KEY)")
    assert SECRET not in repr(caught.value.__dict__) and "1234" not in caught.value.message


def test_conflicts_and_server_errors_are_retried_with_the_same_key(
    provider: StripeProvider, http: RecordingClient
) -> None:
    http.expect(
        "post", "/v1/invoices/in_T3st0000000001/pay", fixture("error_idempotency"), status=409
    )
    http.expect("post", "/v1/invoices/in_T3st0000000001/pay", fixture("error_api"), status=500)
    http.expect(
        "post",
        "/v1/invoices/in_T3st0000000001/pay",
        fixture(
            "invoice",
            status="paid",
            status_transitions={"paid_at": 1768478500, "finalized_at": 1768478460},
        ),
    )
    paid = provider.pay_invoice("in_T3st0000000001", idempotency_key="nself:pay:x")
    assert paid.status == "paid"
    assert paid.paid_at == datetime.fromtimestamp(1768478500, UTC)
    assert {r.idempotency_key for r in http.requests} == {"nself:pay:x"}
    assert len(http.requests) == 3


def test_server_errors_past_the_retry_budget_become_a_provider_error(
    provider: StripeProvider, http: RecordingClient
) -> None:
    for _ in range(3):
        http.expect("get", "/v1/invoices/in_T3st0000000001", fixture("error_api"), status=503)
    with pytest.raises(ProviderError) as caught:
        provider.retrieve_invoice("in_T3st0000000001")
    assert caught.value.http_status == 503
    http.assert_done()


def test_rate_limits_are_not_retried_by_the_adapter_but_reported(
    provider: StripeProvider, http: RecordingClient
) -> None:
    http.expect("get", "/v1/events", fixture("error_rate_limit"), status=429)
    with pytest.raises(ProviderError) as caught:
        provider.list_events(limit=3)
    assert caught.value.http_status == 429
    assert caught.value.message.startswith("Stripe API error: Too many requests")


def test_payment_methods_show_the_default(provider: StripeProvider, http: RecordingClient) -> None:
    other = fixture(
        "payment_method",
        id="pm_Card000000002",
        card={"brand": "mastercard", "last4": "4444", "exp_month": 1, "exp_year": 2031},
    )
    http.expect("get", "/v1/customers/cus_T3st0000000001", fixture("customer"))
    http.expect("get", "/v1/payment_methods", listing(fixture("payment_method"), other))
    methods = provider.list_payment_methods("cus_T3st0000000001")
    assert [(m.payment_method_id, m.brand, m.last4, m.is_default) for m in methods] == [
        ("pm_Card000000001", "visa", "4242", True),
        ("pm_Card000000002", "mastercard", "4444", False),
    ]


def test_the_only_default_payment_method_cannot_be_removed(
    provider: StripeProvider, http: RecordingClient
) -> None:
    http.expect("get", "/v1/customers/cus_T3st0000000001", fixture("customer"))
    http.expect("get", "/v1/payment_methods", listing(fixture("payment_method")))
    with pytest.raises(Conflict, match="only"):
        provider.detach_payment_method(
            "cus_T3st0000000001", "pm_Card000000001", idempotency_key="k"
        )
    http.assert_done()


def test_setting_the_default_uses_invoice_settings(
    provider: StripeProvider, http: RecordingClient
) -> None:
    http.expect("post", "/v1/customers/cus_T3st0000000001", fixture("customer"))
    provider.set_default_payment_method(
        "cus_T3st0000000001", "pm_Card000000002", idempotency_key="nself:pm-default:x"
    )
    assert http.requests[0].form == {"invoice_settings[default_payment_method]": "pm_Card000000002"}


def test_portal_session_returns_to_the_base_url(
    provider: StripeProvider, http: RecordingClient
) -> None:
    http.expect("post", "/v1/billing_portal/sessions", fixture("billing_portal_session"))
    url = provider.portal_url("cus_T3st0000000001", return_url="https://example.com")
    assert url == "https://billing.stripe.com/p/session/test_T3st"
    assert http.requests[0].form == {
        "customer": "cus_T3st0000000001",
        "return_url": "https://example.com",
    }


def test_catalog_sync_creates_what_is_missing_once(
    provider: StripeProvider, http: RecordingClient
) -> None:
    plan = CatalogPlan(
        name="starter",
        description="Starter",
        currency="usd",
        price_monthly=Decimal("29.00"),
        price_yearly=Decimal("290.00"),
        overage={"api": Decimal("0.0001")},
    )
    http.expect("get", "/v1/billing/meters", listing())
    http.expect("get", "/v1/prices", listing())
    http.expect(
        "get", "/v1/products/nself_plan_starter", fixture("error_resource_missing"), status=404
    )
    http.expect("post", "/v1/products", {"id": "nself_plan_starter", "object": "product"})
    http.expect("post", "/v1/prices", {"id": "price_M", "object": "price"})
    http.expect("post", "/v1/prices", {"id": "price_Y", "object": "price"})
    http.expect("post", "/v1/billing/meters", fixture("meter"))
    http.expect("post", "/v1/prices", {"id": "price_O", "object": "price"})
    (entry,) = provider.sync_catalog([plan])
    assert (entry.price_monthly_id, entry.price_yearly_id) == ("price_M", "price_Y")
    assert entry.meters == {"api": ("mtr_Api000000001", "price_O")}
    monthly, yearly, meter, overage = (http.requests[i].form for i in (4, 5, 6, 7))
    assert monthly["lookup_key"] == "nself_starter_monthly" and monthly["unit_amount"] == "2900"
    assert yearly["recurring[interval]"] == "year" and yearly["unit_amount"] == "29000"
    assert meter == {
        "display_name": "nself api",
        "event_name": "nself_api",
        "default_aggregation[formula]": "sum",
        "customer_mapping[event_payload_key]": "stripe_customer_id",
        "customer_mapping[type]": "by_id",
        "value_settings[event_payload_key]": "value",
    }
    assert overage["recurring[usage_type]"] == "metered"
    assert overage["recurring[meter]"] == "mtr_Api000000001"
    assert overage["unit_amount_decimal"] == "0.01"
    keys = [r.idempotency_key for r in http.requests if r.method == "post"]
    assert all(k and k.startswith("nself:") for k in keys) and len(set(keys)) == len(keys)

    # a second run finds everything and writes nothing
    http.requests.clear()
    monthly_price = {"id": "price_M", "lookup_key": "nself_starter_monthly", "unit_amount": 2900}
    yearly_price = {"id": "price_Y", "lookup_key": "nself_starter_yearly", "unit_amount": 29000}
    overage_price = {
        "id": "price_O",
        "lookup_key": "nself_starter_api_overage",
        "unit_amount_decimal": "0.01",
    }
    http.expect("get", "/v1/billing/meters", listing(fixture("meter")))
    http.expect("get", "/v1/prices", listing(monthly_price, yearly_price, overage_price))
    http.expect("get", "/v1/products/nself_plan_starter", {"id": "nself_plan_starter"})
    (again,) = provider.sync_catalog([plan])
    assert again.created == ()
    assert all(r.method == "get" for r in http.requests)


def test_meter_events_go_through_the_v2_stream_with_their_identifiers(
    provider: StripeProvider, http: RecordingClient
) -> None:
    at = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    events = [
        MeterEvent(f"nself_{i:040d}", "nself_api", "cus_T3st0000000001", Decimal("1.5"), at)
        for i in range(150)
    ]
    http.expect("post", "/v2/billing/meter_event_session", fixture("meter_event_session"))
    http.expect("post", "/v2/billing/meter_event_stream", {})
    http.expect("post", "/v2/billing/meter_event_stream", {})
    provider.send_meter_events(events)
    first, second = http.requests[1], http.requests[2]
    assert first.headers["Authorization"] == "Bearer meter_session_token_T3st"
    assert len(first.json["events"]) == 100 and len(second.json["events"]) == 50
    assert first.json["events"][0] == {
        "event_name": "nself_api",
        "identifier": "nself_" + "0" * 40,
        "timestamp": "2026-01-15T12:00:00Z",
        "payload": {"stripe_customer_id": "cus_T3st0000000001", "value": "1.5"},
    }


def test_meter_event_totals_come_from_the_event_summaries(
    provider: StripeProvider, http: RecordingClient
) -> None:
    http.expect("get", "/v1/billing/meters", listing(fixture("meter")))
    http.expect(
        "get",
        "/v1/billing/meters/mtr_Api000000001/event_summaries",
        fixture("meter_event_summaries"),
    )
    total = provider.meter_event_total(
        "api",
        "cus_T3st0000000001",
        datetime(2026, 1, 15, 12, 0, 30, tzinfo=UTC),
        datetime(2026, 2, 15, 12, 0, tzinfo=UTC),
    )
    assert total == Decimal("1500.5")
    assert http.requests[1].query == {
        "customer": "cus_T3st0000000001",
        "start_time": "1768478400",
        "end_time": "1771156800",
    }


def test_invoice_pdf_is_downloaded_from_its_signed_link(
    provider: StripeProvider, http: RecordingClient
) -> None:
    http.expect("get", "/v1/invoices/in_T3st0000000001", fixture("invoice"))
    http.expect("get", "/invoice/acct_1/test_T3st/pdf", b"%PDF-1.7 test")
    assert provider.download_invoice_pdf("in_T3st0000000001") == b"%PDF-1.7 test"
    assert "Authorization" not in http.requests[1].headers


def test_webhook_endpoints_and_events_are_listed(
    provider: StripeProvider, http: RecordingClient
) -> None:
    http.expect("get", "/v1/webhook_endpoints", listing(fixture("webhook_endpoint")))
    http.expect(
        "get",
        "/v1/events",
        listing({"id": "evt_1", "object": "event", "type": "invoice.paid", "created": 1}),
    )
    assert provider.list_webhook_endpoints() == [
        {
            "id": "we_T3st000001",
            "url": "https://example.com/api/webhooks/stripe",
            "status": "enabled",
            "enabled_events": ["customer.subscription.updated", "invoice.paid"],
        }
    ]
    assert provider.list_events(limit=20)[0]["id"] == "evt_1"
    assert http.requests[1].query == {"limit": "20"}


def test_meter_events_can_go_through_v1_one_by_one(http: RecordingClient, tmp_path: Path) -> None:
    settings = Settings.from_env({"NSELF_ROOT": str(tmp_path), "STRIPE_SECRET_KEY": SECRET})
    provider = StripeProvider(settings, http_client=http, meter_api="v1")
    at = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    http.expect("post", "/v1/billing/meter_events", {"object": "billing.meter_event"})
    http.expect("post", "/v1/billing/meter_events", {"object": "billing.meter_event"})
    provider.send_meter_events(
        [MeterEvent(f"nself_{i}", "nself_storage", "cus_1", Decimal("0.25"), at) for i in (1, 2)]
    )
    first = http.requests[0]
    assert first.form == {
        "event_name": "nself_storage",
        "identifier": "nself_1",
        "timestamp": "1768478400",
        "payload[stripe_customer_id]": "cus_1",
        "payload[value]": "0.25",
    }
    assert first.idempotency_key == "nself:meter-event:nself_1"


def test_a_key_echoed_in_an_error_message_is_masked(
    provider: StripeProvider, http: RecordingClient
) -> None:
    echoed = {
        "error": {"type": "invalid_request_error", "message": f"Bad key {SECRET} or rk_live_abc123"}
    }
    http.expect("get", "/v1/events", echoed, status=400)
    with pytest.raises(ProviderError) as caught:
        provider.list_events()
    assert SECRET not in caught.value.message and "rk_live_abc123" not in caught.value.message
    assert caught.value.message.startswith("Stripe API error: Bad key ")


def test_overage_prices_are_graduated_with_the_quota_free_and_replaced_when_tiers_change(
    provider: StripeProvider, http: RecordingClient
) -> None:
    plan = CatalogPlan(
        name="pro",
        description="Pro",
        currency="usd",
        price_monthly=Decimal("99.00"),
        price_yearly=None,
        overage={"api": Decimal("0.000008")},
        included={"api": Decimal(1_000_000)},
    )
    old = {
        "id": "price_OldApi",
        "lookup_key": "nself_pro_api_overage",
        "billing_scheme": "tiered",
        "tiers_mode": "graduated",
        "recurring": {"usage_type": "metered", "meter": "mtr_Api000000001"},
        "tiers": [
            {"up_to": 500000, "unit_amount_decimal": "0", "flat_amount": None},
            {"up_to": None, "unit_amount_decimal": "0.0008", "flat_amount": None},
        ],
    }
    monthly = {"id": "price_M", "lookup_key": "nself_pro_monthly", "unit_amount": 9900}
    http.expect("get", "/v1/billing/meters", listing(fixture("meter")))
    http.expect("get", "/v1/prices", listing(monthly, old))
    http.expect("get", "/v1/products/nself_plan_pro", {"id": "nself_plan_pro"})
    http.expect("post", "/v1/prices", {"id": "price_NewApi", "object": "price"})
    (entry,) = provider.sync_catalog([plan])
    assert entry.meters == {"api": ("mtr_Api000000001", "price_NewApi")}
    assert http.requests[1].query["expand[0]"] == "data.tiers"
    made = http.requests[3].form
    assert made["billing_scheme"] == "tiered" and made["tiers_mode"] == "graduated"
    assert (made["tiers[0][up_to]"], made["tiers[0][unit_amount_decimal]"]) == ("1000000", "0")
    assert (made["tiers[1][up_to]"], made["tiers[1][unit_amount_decimal]"]) == ("inf", "0.0008")
    assert made["transfer_lookup_key"] == "true"
    assert made["lookup_key"] == "nself_pro_api_overage"


def test_an_api_version_older_than_the_shapes_read_is_warned_about(tmp_path: Path) -> None:
    environ = {
        "NSELF_ROOT": str(tmp_path),
        "STRIPE_SECRET_KEY": "sk_test_old",
        "STRIPE_API_VERSION": "2024-06-20",
    }
    with pytest.warns(RuntimeWarning, match="older than 2025-03-31"):
        StripeProvider(Settings.from_env(environ), http_client=RecordingClient())


def test_amounts_follow_the_currency_minor_unit() -> None:
    from nself_billing.providers.stripe import from_minor, to_minor

    assert to_minor(Decimal("12.34"), "usd") == 1234
    assert to_minor(Decimal("1500"), "JPY") == 1500
    assert to_minor(Decimal("1.234"), "kwd") == 1234
    assert from_minor(1234, "kwd") == Decimal("1.234")
    assert from_minor(1500, "jpy") == Decimal("1500")
