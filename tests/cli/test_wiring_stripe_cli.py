"""The shared billing commands on the Stripe provider, end to end through the real entry point.

Each command builds its Billing from the environment as in production; the Stripe SDK's own
HTTP client factory hands out the recording client (tests/support/stripe_fake.py), which checks
every request and answers fixtures in the current API shape. Both backends.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import stripe
from sqlalchemy import create_engine, text

from tests.support.stripe_fake import RecordingClient, fixture, listing

CUSTOMER = "cus_T3st0000000001"
SUB = "sub_T3st0000000001"
INVOICE = "in_T3st0000000001"
STRIPE_ENV = {
    "STRIPE_SECRET_KEY": "sk_test_wiring_secret_value",
    "NSELF_CUSTOMER_ID": CUSTOMER,
    "NSELF_BASE_URL": "https://example.com",
}


@pytest.fixture
def http(monkeypatch: pytest.MonkeyPatch) -> RecordingClient:
    client = RecordingClient()
    monkeypatch.setattr(stripe, "new_default_http_client", lambda *args, **kwargs: client)
    return client


@pytest.fixture
def run(cli, http):  # type: ignore[no-untyped-def]
    def invoke(*args: str) -> Any:
        result = cli("tenant", "billing", *args, extra_env=STRIPE_ENV)
        assert "sk_test_wiring_secret_value" not in result.stdout + result.stderr
        return result

    return invoke


def _price(plan: str) -> dict[str, Any]:
    price = copy.deepcopy(fixture("subscription")["items"]["data"][0]["price"])
    price.update(
        id=f"price_{plan.capitalize()}Monthly",
        lookup_key=f"nself_{plan}_monthly",
        metadata={"nself_plan": plan},
        product=f"nself_plan_{plan}",
    )
    return price


def _on(plan: str, **changes: Any) -> dict[str, Any]:
    subscription = fixture("subscription", **changes)
    subscription["items"]["data"][0]["price"] = _price(plan)
    subscription["metadata"] = {"nself_plan": plan}
    return subscription


def _count(env: dict[str, str], sql: str) -> int:
    url = env.get("BILLING_DATABASE_URL")
    if url is None:
        from pathlib import Path

        url = "sqlite:///" + str(Path(env["NSELF_ROOT"]) / ".nself" / "billing" / "billing.db")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar() or 0)
    finally:
        engine.dispose()


def test_subscription_show_reads_stripe_into_the_mirror(run, http: RecordingClient) -> None:  # type: ignore[no-untyped-def]
    http.expect("get", "/v1/subscriptions", listing(fixture("subscription")))
    result = run("subscription", "show")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[:5] == [
        "Current Subscription",
        f"Subscription ID: {SUB}",
        "Plan: starter",
        "Status: active",
        "Current Period: 2026-01-15 to 2026-02-15",
    ]
    assert http.requests[0].query == {"customer": CUSTOMER, "status": "all", "limit": "10"}
    http.assert_done()


def test_upgrade_is_an_immediate_price_change_invoiced_by_stripe(  # type: ignore[no-untyped-def]
    run, http: RecordingClient
) -> None:
    starter = fixture("subscription")
    http.expect("get", "/v1/subscriptions", listing(starter))  # the read: mirror refreshed
    http.expect("get", "/v1/subscriptions", listing(starter))  # the use case's own read
    http.expect("get", f"/v1/subscriptions/{SUB}", starter)
    http.expect("get", "/v1/prices", listing(_price("pro")))
    pro_api = {
        **starter["items"]["data"][1]["price"],
        "id": "price_ProApiOverage",
        "lookup_key": "nself_pro_api_overage",
        "metadata": {"nself_plan": "pro", "nself_service": "api"},
    }
    http.expect("get", "/v1/prices", listing(pro_api))
    http.expect("post", f"/v1/subscriptions/{SUB}", _on("pro"))
    result = run("subscription", "upgrade", "pro")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Subscription upgraded: starter -> pro (effective immediately)",
        "Prorated charge: invoiced and charged now by Stripe "
        "(see: nself tenant billing invoice list)",
        "Quota limits: pro plan, from now",
    ]
    update = http.requests[-1]
    assert update.form["items[0][id]"] == "si_T3stLicensed01"
    assert update.form["items[0][price]"] == "price_ProMonthly"
    # the metered item moves to the new plan's overage price in the same update
    assert update.form["items[1][id]"] == "si_T3stMetered001"
    assert update.form["items[1][price]"] == "price_ProApiOverage"
    assert update.form["proration_behavior"] == "always_invoice"
    assert update.form["payment_behavior"] == "pending_if_incomplete"
    assert update.idempotency_key.startswith(f"nself:upgrade:{SUB}:pro:")
    http.assert_done()


def test_an_upgrade_to_a_lower_plan_is_refused_before_asking_stripe_to_change(  # type: ignore[no-untyped-def]
    run, http: RecordingClient
) -> None:
    http.expect("get", "/v1/subscriptions", listing(fixture("subscription")))
    result = run("subscription", "upgrade", "free")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Cannot upgrade from starter to free: not a higher")
    assert [r.method for r in http.requests] == ["get"]


def test_downgrade_schedules_the_cheaper_price_at_period_end(  # type: ignore[no-untyped-def]
    run, http: RecordingClient
) -> None:
    starter = fixture("subscription")
    http.expect("get", "/v1/subscriptions", listing(starter))
    http.expect("get", "/v1/subscriptions", listing(starter))
    http.expect("get", f"/v1/subscriptions/{SUB}", starter)
    http.expect("post", "/v1/subscription_schedules", fixture("subscription_schedule"))
    http.expect("get", "/v1/prices", listing(_price("free")))
    http.expect("get", "/v1/prices", listing())  # the free plan meters nothing
    http.expect(
        "post", "/v1/subscription_schedules/sub_sched_T3st000001", fixture("subscription_schedule")
    )
    http.expect("get", f"/v1/subscriptions/{SUB}", {**starter, "schedule": "sub_sched_T3st000001"})
    result = run("subscription", "downgrade", "free")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Downgrade scheduled: starter -> free on 2026-02-15",
        "The starter plan stays active until then; no charge now.",
    ]
    phases = http.requests[-2].form
    # phase 0 keeps every current item, the metered one included, until the period ends
    assert phases["phases[0][items][0][price]"] == "price_StarterMonthly"
    assert phases["phases[0][items][1][price]"] == "price_StarterApiOverage"
    assert phases["phases[1][items][0][price]"] == "price_FreeMonthly"
    http.assert_done()
    # the scheduled change is in the mirror: a later read shows it
    scheduled = {**starter, "schedule": "sub_sched_T3st000001"}
    http.expect("get", "/v1/subscriptions", listing(scheduled))
    shown = run("subscription", "show")
    assert "Scheduled Change: free on 2026-02-15" in shown.stdout.splitlines()


def test_cancel_reactivate_and_cancel_now(run, http: RecordingClient, env) -> None:  # type: ignore[no-untyped-def]
    active = fixture("subscription")
    ending = fixture("subscription", cancel_at_period_end=True)
    http.expect("get", "/v1/subscriptions", listing(active))
    http.expect("post", f"/v1/subscriptions/{SUB}", ending)
    result = run("subscription", "cancel")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Subscription will cancel at period end: 2026-02-15"
    assert http.requests[-1].form == {"cancel_at_period_end": "true"}

    http.expect("get", "/v1/subscriptions", listing(ending))
    http.expect("post", f"/v1/subscriptions/{SUB}", active)
    result = run("subscription", "reactivate")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"Subscription reactivated: {SUB} (continues on starter)\n"
    assert http.requests[-1].form == {"cancel_at_period_end": "false"}

    canceled = fixture(
        "subscription", status="canceled", canceled_at=1769000000, ended_at=1769000000
    )
    http.expect("get", "/v1/subscriptions", listing(active))
    http.expect("delete", f"/v1/subscriptions/{SUB}", canceled)
    result = run("subscription", "cancel", "--immediate")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"Subscription canceled immediately: {SUB}",
        "Final invoice: by Stripe, if any (see: nself tenant billing invoice list)",
        "Access revoked; no refunds are issued. This cannot be reactivated.",
    ]
    http.assert_done()
    keys = [r.idempotency_key for r in http.requests if r.method != "get"]
    assert len(set(keys)) == 3
    assert _count(env, "SELECT count(*) FROM billing_subscriptions WHERE status = 'canceled'") == 1
    # nothing was invoiced locally: Stripe invoices
    assert _count(env, "SELECT count(*) FROM billing_invoices") == 0


def test_reactivate_without_a_scheduled_cancellation_is_refused(  # type: ignore[no-untyped-def]
    run, http: RecordingClient
) -> None:
    http.expect("get", "/v1/subscriptions", listing(fixture("subscription")))
    result = run("subscription", "reactivate")
    assert result.exit_code == 1
    assert result.stderr == "Error: The subscription is not scheduled for cancellation\n"


def test_invoice_list_and_pay(run, http: RecordingClient, env) -> None:  # type: ignore[no-untyped-def]
    http.expect("get", "/v1/invoices", listing(fixture("invoice")))
    result = run("invoice", "list")
    assert result.exit_code == 0, result.stderr
    # Stripe's own invoice number follows the spec's four columns
    assert result.stdout.splitlines() == [
        "Recent Invoices",
        f"{INVOICE} 2026-01-15 $99.00 open NSELF-0001",
    ]
    assert http.requests[-1].query == {"customer": CUSTOMER, "limit": "100"}

    paid = fixture("invoice", status="paid", amount_paid=9900, amount_remaining=0)
    paid["status_transitions"] = {**paid["status_transitions"], "paid_at": 1768478500}
    http.expect("get", f"/v1/invoices/{INVOICE}", fixture("invoice"))
    http.expect("post", f"/v1/invoices/{INVOICE}/pay", paid)
    result = run("invoice", "pay", INVOICE)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"Invoice paid: {INVOICE} $99.00\n"
    assert http.requests[-1].idempotency_key.startswith(f"nself:pay:{INVOICE}:")
    assert _count(env, "SELECT count(*) FROM billing_invoices WHERE status = 'paid'") == 1

    http.expect("get", f"/v1/invoices/{INVOICE}", paid)  # paid already: nothing is charged
    result = run("invoice", "pay", INVOICE)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"Invoice already paid: {INVOICE} ($99.00)\n"
    http.assert_done()


def test_a_declined_card_is_one_error_line(run, http: RecordingClient) -> None:  # type: ignore[no-untyped-def]
    http.expect("get", f"/v1/invoices/{INVOICE}", fixture("invoice"))
    http.expect("post", f"/v1/invoices/{INVOICE}/pay", fixture("error_card_declined"), status=402)
    result = run("invoice", "pay", INVOICE)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Stripe API error: ")
    assert "declined" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def _two_cards(default: str = "pm_Card000000001") -> list[dict[str, Any]]:
    second = fixture("payment_method", id="pm_Card000000002")
    second["card"] = {**second["card"], "brand": "mastercard", "last4": "4444"}
    return [fixture("payment_method"), second]


def _customer(default: str) -> dict[str, Any]:
    customer = fixture("customer")
    customer["invoice_settings"] = {
        **customer["invoice_settings"],
        "default_payment_method": default,
    }
    return customer


def test_payment_list_remove_and_default(run, http: RecordingClient) -> None:  # type: ignore[no-untyped-def]
    http.expect("get", f"/v1/customers/{CUSTOMER}", fixture("customer"))
    http.expect("get", "/v1/payment_methods", listing(*_two_cards()))
    result = run("payment", "list")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Payment Methods"
    assert lines[1].startswith("pm_Card000000001") and lines[1].endswith("(default)")
    assert "4242" in lines[1] and "4444" in lines[2] and "(default)" not in lines[2]

    http.expect("post", f"/v1/customers/{CUSTOMER}", _customer("pm_Card000000002"))
    http.expect("get", f"/v1/customers/{CUSTOMER}", _customer("pm_Card000000002"))
    http.expect("get", "/v1/payment_methods", listing(*_two_cards()))
    result = run("payment", "default", "pm_Card000000002")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Default payment method: pm_Card000000002 (")
    assert http.requests[-3].form == {
        "invoice_settings[default_payment_method]": "pm_Card000000002"
    }

    for _ in range(2):  # the mirror's refresh, then the adapter's own check
        http.expect("get", f"/v1/customers/{CUSTOMER}", _customer("pm_Card000000002"))
        http.expect("get", "/v1/payment_methods", listing(*_two_cards()))
    http.expect(
        "post",
        "/v1/payment_methods/pm_Card000000001/detach",
        fixture("payment_method", customer=None),
    )
    result = run("payment", "remove", "pm_Card000000001")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Payment method removed: pm_Card000000001\n"
    http.assert_done()


def test_the_only_default_method_is_not_removed(run, http: RecordingClient) -> None:  # type: ignore[no-untyped-def]
    for _ in range(2):
        http.expect("get", f"/v1/customers/{CUSTOMER}", fixture("customer"))
        http.expect("get", "/v1/payment_methods", listing(fixture("payment_method")))
    result = run("payment", "remove", "pm_Card000000001")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Cannot remove pm_Card000000001: it is the only")
    assert all(r.method == "get" for r in http.requests)


def test_customer_portal_and_payment_add_print_stripe_links(  # type: ignore[no-untyped-def]
    run, http: RecordingClient
) -> None:
    http.expect("post", "/v1/billing_portal/sessions", fixture("billing_portal_session"))
    result = run("customer", "portal")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Customer Portal URL:",
        "https://billing.stripe.com/p/session/test_T3st",
        "Portal session created",
    ]
    assert http.requests[-1].form == {"customer": CUSTOMER, "return_url": "https://example.com"}

    http.expect("post", "/v1/billing_portal/sessions", fixture("billing_portal_session"))
    result = run("payment", "add")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "https://billing.stripe.com/p/session/test_T3st"
    assert http.requests[-1].form["flow_data[type]"] == "payment_method_update"

    result = run("payment", "add", "--brand", "visa", "--last4", "4242", "--exp", "12/2030")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: With the stripe provider, payment methods are added")
    http.assert_done()


def test_customer_show_refreshes_from_stripe(run, http: RecordingClient) -> None:  # type: ignore[no-untyped-def]
    http.expect("get", f"/v1/customers/{CUSTOMER}", fixture("customer"))
    result = run("customer", "show")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[:3] == [
        f"Customer ID: {CUSTOMER}",
        "Name: John Doe",
        "Email: john@example.com",
    ]


def test_customer_create_with_a_chosen_id_is_refused(run, http: RecordingClient) -> None:  # type: ignore[no-untyped-def]
    result = run(
        "customer", "create", "--email", "a@example.com", "--name", "A", "--id", "cus_mine"
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: With the stripe provider a customer's id is the one")
    assert http.requests == []


def test_cycle_leaves_periods_to_stripe(run, http: RecordingClient) -> None:  # type: ignore[no-untyped-def]
    result = run("cycle")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "Billing cycle skipped: periods are closed by the stripe provider "
        "(its invoices arrive by webhook)\n"
    )
    assert http.requests == []


def test_plan_current_reads_the_subscription_from_stripe(  # type: ignore[no-untyped-def]
    run, http: RecordingClient
) -> None:
    http.expect("get", "/v1/subscriptions", listing(_on("pro")))
    result = run("plan", "current", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert '"pro"' in result.stdout
    http.assert_done()


def test_invoice_show_and_download_come_from_stripe(  # type: ignore[no-untyped-def]
    run, http: RecordingClient, root
) -> None:
    http.expect("get", f"/v1/invoices/{INVOICE}", fixture("invoice"))
    result = run("invoice", "show", INVOICE)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"Invoice: {INVOICE} (number NSELF-0001)"
    assert "Total: $99.00" in result.stdout.splitlines()

    http.expect("get", f"/v1/invoices/{INVOICE}", fixture("invoice"))
    http.expect("get", f"/v1/invoices/{INVOICE}", fixture("invoice"))
    http.expect("get", "/invoice/acct_1/test_T3st/pdf", b"%PDF-1.7 stripe")
    result = run("invoice", "download", INVOICE)
    assert result.exit_code == 0, result.stderr
    path = result.stdout.splitlines()[-1].removeprefix("Invoice downloaded: ")
    from pathlib import Path

    assert Path(path).read_bytes() == b"%PDF-1.7 stripe"
    http.assert_done()

    http.expect(
        "get",
        "/v1/invoices/in_Other0000001",
        fixture("invoice", id="in_Other0000001", customer="cus_Other0000001"),
    )
    result = run("invoice", "show", "in_Other0000001")  # another customer's: not shown
    assert result.exit_code == 1
    assert result.stderr == "Error: Invoice not found: in_Other0000001\n"


def test_subscription_start_prints_where_to_pay_when_the_payment_needs_the_customer(  # type: ignore[no-untyped-def]
    cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from tests.support.stripe_sim import FakeStripe

    fake = FakeStripe(lambda: datetime.now(UTC))
    monkeypatch.setattr(stripe, "new_default_http_client", lambda *args, **kwargs: fake)
    environ = {k: v for k, v in STRIPE_ENV.items() if k != "NSELF_CUSTOMER_ID"}
    synced = cli("tenant", "billing", "plan", "sync", extra_env=environ)
    assert synced.exit_code == 0, synced.stderr
    made = cli(
        "tenant",
        "billing",
        "customer",
        "create",
        "--email",
        "a@example.com",
        "--name",
        "Ann",
        extra_env=environ,
    )
    assert made.exit_code == 0, made.stderr
    (customer,) = fake.customers
    fake.needs_action.add(customer)
    started = cli(
        "tenant",
        "billing",
        "subscription",
        "start",
        "pro",
        extra_env=environ | {"NSELF_CUSTOMER_ID": customer},
    )
    assert started.exit_code == 0, started.stderr
    (invoice,) = fake.invoices.values()
    lines = started.stdout.splitlines()
    assert lines[0].endswith(" (pro, incomplete)")
    assert lines[1] == f"Payment needs the customer: https://invoice.stripe.com/i/{invoice.id}"
    assert lines[2] == "Quota limits: free plan until the first invoice is paid"
