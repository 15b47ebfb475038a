"""Webhook events: signatures made by the SDK's own helper; stored once, applied in order."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import stripe
from sqlalchemy import select

from nself_billing import Billing
from nself_billing.errors import BadSignature
from nself_billing.providers.stripe import StripeEventFormat
from nself_billing.services.stripe.webhook_events import (
    apply_stripe_event,
    verify_and_parse,
)
from nself_billing.settings import Secret
from nself_billing.store.tables import invoices, payment_methods, subscriptions, webhook_events
from tests.support.stripe_fake import fixture

WHSEC = "whsec_test_secret_for_signing"
#: the Stripe adapter's reading of events, as bootstrap.py sets it on the context
STRIPE_EVENTS = StripeEventFormat()


def event(event_id: str, type_: str, obj: dict[str, Any], created: int) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "type": type_,
        "created": created,
        "api_version": "2026-10-28.endive",
        "livemode": False,
        "data": {"object": obj},
    }


def signed(
    payload: dict[str, Any], *, timestamp: int | None = None, secret: str = WHSEC
) -> tuple[bytes, str]:
    body = json.dumps(payload)
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp)
    return body.encode(), header


def test_a_correctly_signed_event_is_parsed() -> None:
    body, header = signed(event("evt_1", "invoice.paid", fixture("invoice"), 1768478400))
    assert verify_and_parse(body, header, Secret(WHSEC), webhooks=STRIPE_EVENTS)["id"] == "evt_1"


def test_a_signature_made_with_another_secret_is_refused() -> None:
    body, header = signed(
        event("evt_1", "invoice.paid", fixture("invoice"), 1768478400), secret="whsec_someone_else"
    )
    with pytest.raises(BadSignature, match="no signature matches"):
        verify_and_parse(body, header, Secret(WHSEC), webhooks=STRIPE_EVENTS)


def test_a_tampered_payload_is_refused() -> None:
    body, header = signed(event("evt_1", "invoice.paid", fixture("invoice"), 1768478400))
    with pytest.raises(BadSignature):
        verify_and_parse(body.replace(b"9900", b"1"), header, WHSEC, webhooks=STRIPE_EVENTS)


def test_a_signature_older_than_five_minutes_is_refused() -> None:
    body, header = signed(
        event("evt_1", "invoice.paid", fixture("invoice"), 1768478400),
        timestamp=int(time.time()) - 301,
    )
    with pytest.raises(BadSignature, match="tolerance"):
        verify_and_parse(body, header, WHSEC, webhooks=STRIPE_EVENTS)


def test_a_missing_header_is_refused() -> None:
    with pytest.raises(BadSignature):
        verify_and_parse(b"{}", None, WHSEC, webhooks=STRIPE_EVENTS)


def _subscription_row(billing: Billing, subscription_id: str) -> Any:
    with billing.context.db.read() as conn:
        return conn.execute(
            select(subscriptions).where(subscriptions.c.subscription_id == subscription_id)
        ).one()


def test_a_duplicate_delivery_is_acknowledged_and_ignored(billing: Billing) -> None:
    ev = event("evt_dup", "customer.subscription.created", fixture("subscription"), 1768478400)
    assert apply_stripe_event(billing.context, ev) == "processed"
    assert apply_stripe_event(billing.context, ev) == "duplicate"
    with billing.context.db.read() as conn:
        assert conn.execute(select(webhook_events.c.status)).scalars().all() == ["processed"]


def test_a_subscription_event_mirrors_the_subscription_and_its_customer(billing: Billing) -> None:
    apply_stripe_event(
        billing.context,
        event("evt_1", "customer.subscription.created", fixture("subscription"), 1768478400),
    )
    row = _subscription_row(billing, "sub_T3st0000000001")
    assert (row.customer_id, row.plan_name, row.status) == (
        "cus_T3st0000000001",
        "starter",
        "active",
    )
    assert row.current_period_end.isoformat() == "2026-02-15T12:00:00+00:00"
    assert billing.customers.get("cus_T3st0000000001").customer_id == "cus_T3st0000000001"


def test_an_older_event_arriving_late_does_not_roll_back_a_newer_state(billing: Billing) -> None:
    newer = fixture("subscription", status="past_due", cancel_at_period_end=True)
    older = fixture("subscription", status="active")
    assert (
        apply_stripe_event(
            billing.context, event("evt_new", "customer.subscription.updated", newer, 1768480000)
        )
        == "processed"
    )
    assert (
        apply_stripe_event(
            billing.context, event("evt_old", "customer.subscription.updated", older, 1768479000)
        )
        == "stale"
    )
    row = _subscription_row(billing, "sub_T3st0000000001")
    assert (row.status, row.cancel_at_period_end) == ("past_due", True)


def test_an_invoice_paid_is_not_undone_by_a_late_finalized(billing: Billing) -> None:
    billing.customers.create(email="john@example.com", customer_id="cus_T3st0000000001")
    paid = fixture(
        "invoice",
        status="paid",
        status_transitions={"paid_at": 1768478500, "finalized_at": 1768478460},
    )
    apply_stripe_event(billing.context, event("evt_paid", "invoice.paid", paid, 1768478500))
    assert (
        apply_stripe_event(
            billing.context, event("evt_fin", "invoice.finalized", fixture("invoice"), 1768478460)
        )
        == "stale"
    )
    with billing.context.db.read() as conn:
        row = conn.execute(select(invoices)).one()
    assert (row.status, str(row.total_amount), row.subscription_id) == (
        "paid",
        "99.00",
        "sub_T3st0000000001",
    )


def test_a_deleted_subscription_is_canceled_in_the_mirror(billing: Billing) -> None:
    apply_stripe_event(
        billing.context,
        event("evt_1", "customer.subscription.created", fixture("subscription"), 1768478400),
    )
    apply_stripe_event(
        billing.context,
        event(
            "evt_2",
            "customer.subscription.deleted",
            fixture("subscription", status="canceled", ended_at=1768490000),
            1768490000,
        ),
    )
    assert _subscription_row(billing, "sub_T3st0000000001").status == "canceled"


def test_payment_methods_follow_attach_detach_and_the_default(billing: Billing) -> None:
    ctx = billing.context
    billing.customers.create(email="old@example.com", customer_id="cus_T3st0000000001")
    apply_stripe_event(
        ctx, event("evt_a", "payment_method.attached", fixture("payment_method"), 1768478400)
    )
    apply_stripe_event(ctx, event("evt_c", "customer.updated", fixture("customer"), 1768478401))
    with ctx.db.read() as conn:
        row = conn.execute(select(payment_methods)).one()
    assert (row.brand, row.last4, row.is_default, row.detached_at) == ("visa", "4242", True, None)
    apply_stripe_event(
        ctx,
        event(
            "evt_d", "payment_method.detached", fixture("payment_method", customer=None), 1768478500
        ),
    )
    with ctx.db.read() as conn:
        row = conn.execute(select(payment_methods)).one()
    assert row.detached_at is not None and row.is_default is False
    assert billing.customers.get("cus_T3st0000000001").email == "john@example.com"


def test_an_event_type_we_do_not_mirror_is_stored_and_ignored(billing: Billing) -> None:
    assert (
        apply_stripe_event(
            billing.context, event("evt_x", "charge.refunded", {"id": "ch_1"}, 1768478400)
        )
        == "ignored"
    )


def test_an_event_that_cannot_be_applied_is_stored_as_failed(billing: Billing) -> None:
    broken = fixture("payment_method", customer=None)
    assert (
        apply_stripe_event(
            billing.context, event("evt_bad", "payment_method.attached", broken, 1768478400)
        )
        == "failed"
    )
    with billing.context.db.read() as conn:
        status, error = conn.execute(select(webhook_events.c.status, webhook_events.c.error)).one()
    assert status == "failed" and "has no customer" in error


def test_concurrent_deliveries_of_one_event_apply_it_once(billing: Billing) -> None:
    ev = event("evt_race", "customer.updated", fixture("customer"), 1768478400)
    barrier = threading.Barrier(6)

    def deliver() -> str:
        barrier.wait()
        return apply_stripe_event(billing.context, ev)

    with ThreadPoolExecutor(6) as pool:
        outcomes = sorted(pool.map(lambda _: deliver(), range(6)))
    assert outcomes == ["duplicate"] * 5 + ["processed"]
    with billing.context.db.read() as conn:
        assert conn.execute(select(webhook_events.c.status)).scalars().all() == ["processed"]


def test_a_failed_event_delivered_again_is_a_duplicate(billing: Billing) -> None:
    broken = event(
        "evt_bad", "payment_method.attached", fixture("payment_method", customer=None), 1768478400
    )
    assert apply_stripe_event(billing.context, broken) == "failed"
    assert apply_stripe_event(billing.context, broken) == "duplicate"
    with billing.context.db.read() as conn:
        assert conn.execute(select(webhook_events.c.status)).scalars().all() == ["failed"]


def test_the_inbox_stores_the_verified_body_as_received(env: dict[str, str], clock: Any) -> None:
    with Billing.from_env({**env, "STRIPE_WEBHOOK_SECRET": WHSEC}, clock=clock) as billing:
        _inbox_stores_the_body(billing)


def _inbox_stores_the_body(billing: Billing) -> None:
    body, header = signed(event("evt_body", "customer.updated", fixture("customer"), 1768478400))
    body = body.replace(b", ", b",   ")  # still the signed JSON: the signature covers these bytes
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), WHSEC)
    received = billing.webhook_inbox.receive_stripe(body, header)
    assert (received.status, received.duplicate) == ("processed", False)
    with billing.context.db.read() as conn:
        assert conn.execute(select(webhook_events.c.payload)).scalar_one() == body.decode()


@pytest.mark.parametrize("paid_first", [True, False])
def test_paid_and_finalized_in_the_same_second_leave_the_invoice_paid(
    billing: Billing, paid_first: bool
) -> None:
    billing.customers.create(email="john@example.com", customer_id="cus_T3st0000000001")
    paid = fixture(
        "invoice",
        status="paid",
        status_transitions={"paid_at": 1768478500, "finalized_at": 1768478500},
    )
    events = [
        event("evt_paid", "invoice.paid", paid, 1768478500),
        event("evt_fin", "invoice.finalized", fixture("invoice"), 1768478500),
    ]
    for delivered in events if paid_first else reversed(events):
        apply_stripe_event(billing.context, delivered)
    with billing.context.db.read() as conn:
        row = conn.execute(select(invoices)).one()
    assert (row.status, row.paid_at is not None) == ("paid", True)


def test_objects_of_another_integration_in_a_shared_account_are_not_mirrored(
    billing: Billing,
) -> None:
    theirs = fixture("subscription", customer="cus_Other000000001", metadata={})
    for item in theirs["items"]["data"]:
        item["price"].update(lookup_key="their_price", metadata={})
    ctx = billing.context
    apply_stripe_event(ctx, event("evt_s", "customer.subscription.created", theirs, 1768478400))
    apply_stripe_event(
        ctx,
        event(
            "evt_c",
            "customer.updated",
            fixture("customer", id="cus_Other000000001", metadata={}),
            1768478400,
        ),
    )
    apply_stripe_event(
        ctx,
        event(
            "evt_i", "invoice.paid", fixture("invoice", customer="cus_Other000000001"), 1768478400
        ),
    )
    with ctx.db.read() as conn:
        assert conn.execute(select(subscriptions)).all() == []
        assert conn.execute(select(invoices)).all() == []
    assert [c.customer_id for c in billing.customers.list()] == []


def test_a_canceled_subscription_is_not_revived_by_an_older_state(billing: Billing) -> None:
    ctx = billing.context
    ended = fixture("subscription", status="canceled", ended_at=1768478500)
    apply_stripe_event(ctx, event("evt_d", "customer.subscription.deleted", ended, 1768478500))
    # a later event that still carries the live state (made before the deletion, same second)
    apply_stripe_event(
        ctx, event("evt_u", "customer.subscription.updated", fixture("subscription"), 1768478500)
    )
    with ctx.db.read() as conn:
        assert conn.execute(select(subscriptions.c.status)).scalar_one() == "canceled"
