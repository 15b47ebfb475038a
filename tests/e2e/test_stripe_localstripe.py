"""End to end: the real SDK over real HTTP against localstripe (PyPI) on a loopback port.

localstripe has no Prices, Subscription Schedules, Billing Portal, Billing Meters or
idempotency: the subscription here is made on a legacy Plan (id ``nself_pro_monthly``, which our
adapter reads like a price lookup key), and upgrade/downgrade, portal, plan sync and meter
events are covered by the recorded-fixture tests in tests/providers only.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from nself_billing import Billing
from nself_billing.errors import BillingError, ProviderError
from nself_billing.providers.stripe import StripeProvider
from nself_billing.services.stripe.webhook_events import (
    apply_stripe_event,
    verify_and_parse,
    webhook_format,
)
from nself_billing.settings import Settings
from nself_billing.store.tables import payment_methods, subscriptions, webhook_events
from tests.conftest import FrozenClock
from tests.support.localstripe_server import running_localstripe

pytest.importorskip("localstripe")

WHSEC = "whsec_localstripe_e2e"


@pytest.fixture(scope="module")
def localstripe() -> Iterator[str]:
    with running_localstripe() as base:
        yield base


class Receiver:
    """Our webhook handler behind a minimal HTTP endpoint (the real receiver is the HTTP
    service's; it calls the same two functions)."""

    def __init__(self, billing: Billing) -> None:
        self.answers: list[tuple[int, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    event = verify_and_parse(
                        body,
                        self.headers.get("Stripe-Signature"),
                        WHSEC,
                        webhooks=webhook_format(billing.context),
                    )
                    status, text = 200, apply_stripe_event(billing.context, event)
                except BillingError as error:
                    status, text = 400, error.message
                receiver.answers.append((status, text))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/webhooks/stripe"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stripe_env(env: dict[str, str], localstripe: str) -> dict[str, str]:
    return env | {
        "STRIPE_SECRET_KEY": "sk_test_localstripe",
        "STRIPE_WEBHOOK_SECRET": WHSEC,
        "STRIPE_API_BASE": f"{localstripe}/v1",
        "NSELF_BASE_URL": "https://example.com",
    }


@pytest.fixture
def on_stripe(stripe_env: dict[str, str], clock: FrozenClock) -> Iterator[Billing]:
    handle = Billing.from_env(stripe_env, clock=clock)
    assert isinstance(handle.context.provider, StripeProvider)
    yield handle
    handle.close()


def _wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_customer_cards_subscription_invoice_and_webhooks_on_localstripe(
    on_stripe: Billing, localstripe: str
) -> None:
    receiver = Receiver(on_stripe)
    try:
        form = urllib.parse.urlencode({"url": receiver.url, "secret": WHSEC}).encode()
        urllib.request.urlopen(
            f"{localstripe}/_config/webhooks/nself", data=form, timeout=5
        ).close()
        client = on_stripe.context.provider.client  # type: ignore[attr-defined]

        # customer: created on Stripe through the provider port, mirrored locally
        customer = on_stripe.customers.create(email="john@example.com", name="John Doe")
        cid = customer.customer_id
        assert cid.startswith("cus_")
        on_stripe.customers.update(cid, name="Jane Doe")
        assert on_stripe.stripe.customer(cid).name == "Jane Doe"

        # payment methods: a test card attached in Stripe, made default through us
        card = client.v1.payment_methods.create(
            {
                "type": "card",
                "card": {
                    "number": "4242424242424242",
                    "exp_month": 12,
                    "exp_year": 2030,
                    "cvc": "123",
                },
            }
        )
        client.v1.payment_methods.attach(card.id, {"customer": cid})
        on_stripe.stripe.set_default_payment_method(cid, card.id)
        (listed,) = on_stripe.stripe.payment_methods(cid)
        assert (listed.brand, listed.last4, listed.exp_year, listed.is_default) == (
            "visa",
            "4242",
            2030,
            True,
        )
        with on_stripe.context.db.read() as conn:
            assert conn.execute(select(payment_methods.c.is_default)).scalar() is True
        with pytest.raises(BillingError, match="only"):
            on_stripe.stripe.remove_payment_method(cid, card.id)

        # subscription on a legacy Plan (localstripe has no Prices), read and cancelled by us
        if not any(p.id == "nself_pro_monthly" for p in client.v1.plans.list().data):
            product = client.v1.products.create({"name": "nself pro"})
            client.v1.plans.create(
                {
                    "id": "nself_pro_monthly",
                    "amount": 9900,
                    "currency": "usd",
                    "interval": "month",
                    "product": product.id,
                }
            )
        client.v1.subscriptions.create({"customer": cid, "items": [{"plan": "nself_pro_monthly"}]})
        current = on_stripe.stripe.current_subscription(cid)
        assert (current.plan_name, current.status) == ("pro", "active")
        assert current.current_period_end is not None

        # invoice: an open one (localstripe invoices only customers with a subscription) paid
        # through us with the default card
        client.v1.invoice_items.create({"customer": cid, "amount": 1500, "currency": "usd"})
        draft = client.v1.invoices.create({"customer": cid})
        assert draft.status in ("draft", "open")
        paid = on_stripe.stripe.pay_invoice(draft.id)
        assert paid.status == "paid"
        assert any(
            i.invoice_id == draft.id and i.status == "paid" for i in on_stripe.stripe.invoices(cid)
        )

        assert on_stripe.stripe.cancel(cid).cancel_at_period_end is True
        assert on_stripe.stripe.reactivate(cid).cancel_at_period_end is False
        assert on_stripe.stripe.cancel(cid, immediate=True).status == "canceled"
        with on_stripe.context.db.read() as conn:
            assert conn.execute(select(subscriptions.c.status)).scalar() == "canceled"

        # errors: one line, no secret
        with pytest.raises(ProviderError) as caught:
            on_stripe.stripe.invoice("in_doesnotexist")
        assert caught.value.message.startswith("Stripe API error: ")
        assert "sk_test_localstripe" not in caught.value.message

        # webhooks: localstripe signed and delivered its events to our handler
        def delivered() -> bool:
            with on_stripe.context.db.read() as conn:
                types = set(conn.execute(select(webhook_events.c.type)).scalars())
            return {"customer.updated", "customer.subscription.deleted"} <= types

        _wait_for(delivered)
        assert all(status == 200 for status, _ in receiver.answers)
        outcomes = [text for _, text in receiver.answers]
        assert "failed" not in outcomes and "processed" in outcomes
        with on_stripe.context.db.read() as conn:
            statuses = dict(
                conn.execute(
                    select(webhook_events.c.type, webhook_events.c.status).where(
                        webhook_events.c.type == "customer.subscription.deleted"
                    )
                ).all()
            )
        assert statuses["customer.subscription.deleted"] in ("processed", "stale")
    finally:
        receiver.close()


def test_a_signed_webhook_test_reaches_our_receiver(on_stripe: Billing) -> None:
    receiver = Receiver(on_stripe)
    try:
        result = on_stripe.stripe.webhook_test("invoice.paid", url=receiver.url)
        assert (result.status, result.body) == (200, "test")
        assert on_stripe.stripe.public_webhook_url() == "https://example.com/api/webhooks/stripe"
    finally:
        receiver.close()


def test_a_missing_customer_is_an_error_line(on_stripe: Billing) -> None:
    with pytest.raises(ProviderError, match=r"^Stripe API error: "):
        on_stripe.stripe.customer("cus_doesnotexist")


def test_the_key_never_shows_in_settings_or_errors(stripe_env: dict[str, str]) -> None:
    settings = Settings.from_env(stripe_env)
    assert "sk_test_localstripe" not in repr(settings)
    assert json.dumps(stripe_env)  # the test environment itself is not output anywhere


def test_the_shared_commands_act_on_localstripe(  # type: ignore[no-untyped-def]
    on_stripe: Billing, stripe_env: dict[str, str], cli
) -> None:
    """The ordinary commands (not billing.stripe directly), through the CLI entry point, with
    Stripe configured: customer, payment methods, subscription, invoices."""

    def run(*args: str, customer: str | None = None) -> Any:
        extra = stripe_env | ({"NSELF_CUSTOMER_ID": customer} if customer else {})
        result = cli("tenant", "billing", *args, extra_env=extra)
        assert "sk_test_localstripe" not in result.stdout + result.stderr
        return result

    created = run("customer", "create", "--email", "ann@example.com", "--name", "Ann")
    assert created.exit_code == 0, created.stderr
    cid = created.stdout.split("Customer created: ")[1].split()[0]
    assert cid.startswith("cus_")
    client = on_stripe.context.provider.client  # type: ignore[attr-defined]
    card = client.v1.payment_methods.create(
        {
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"},
        }
    )
    client.v1.payment_methods.attach(card.id, {"customer": cid})
    assert run("payment", "default", card.id, customer=cid).exit_code == 0
    listed = run("payment", "list", customer=cid)
    assert listed.exit_code == 0, listed.stderr
    assert card.id in listed.stdout and "(default)" in listed.stdout

    if not any(p.id == "nself_pro_monthly" for p in client.v1.plans.list().data):
        product = client.v1.products.create({"name": "nself pro"})
        client.v1.plans.create(
            {
                "id": "nself_pro_monthly",
                "amount": 9900,
                "currency": "usd",
                "interval": "month",
                "product": product.id,
            }
        )
    client.v1.subscriptions.create({"customer": cid, "items": [{"plan": "nself_pro_monthly"}]})
    shown = run("subscription", "show", customer=cid)
    assert shown.exit_code == 0, shown.stderr
    assert "Plan: pro" in shown.stdout.splitlines()

    client.v1.invoice_items.create({"customer": cid, "amount": 1500, "currency": "usd"})
    draft = client.v1.invoices.create({"customer": cid})
    listed = run("invoice", "list", customer=cid)
    assert listed.exit_code == 0, listed.stderr
    assert draft.id in listed.stdout
    paid = run("invoice", "pay", draft.id, customer=cid)
    assert paid.exit_code == 0, paid.stderr
    assert paid.stdout.startswith(f"Invoice paid: {draft.id} ")

    assert run("subscription", "cancel", customer=cid).stdout.startswith(
        "Subscription will cancel at period end: "
    )
    assert run("subscription", "reactivate", customer=cid).stdout.startswith(
        "Subscription reactivated: "
    )
    ended = run("subscription", "cancel", "--immediate", customer=cid)
    assert ended.stdout.startswith("Subscription canceled immediately: ")
    assert run("cycle", customer=cid).stdout.startswith("Billing cycle skipped: ")
