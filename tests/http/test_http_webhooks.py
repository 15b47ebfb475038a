"""POST /api/webhooks/stripe over real HTTP, signed with the Stripe SDK's helper."""

from __future__ import annotations

import json
import time

import stripe

from .conftest import WEBHOOK_SECRET

URL = "/api/webhooks/stripe"


def event(
    event_id: str = "evt_1",
    kind: str = "customer.updated",
    created: int = 1_767_000_000,
    **data: object,
) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": kind,
            "created": created,
            "api_version": "2025-01-27.acacia",
            "livemode": False,
            "data": {"object": {"id": "cus_alpha", "object": "customer", **data}},
        }
    ).encode()


def sign(payload: bytes, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(payload.decode(), secret, timestamp=at)


def post(http, payload: bytes, signature: str | None):  # type: ignore[no-untyped-def]
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return http.post(URL, content=payload, headers=headers)


def stored(service) -> list[tuple]:
    with service.context.db.read() as conn:
        return conn.exec_driver_sql(
            "SELECT event_id, type, status FROM billing_webhook_events ORDER BY event_id"
        ).all()


def test_a_signed_event_is_stored_before_the_answer(http, service):
    payload = event()
    answer = post(http, payload, sign(payload))
    assert answer.status_code == 200
    assert answer.json()["id"] == "evt_1"
    assert answer.json()["duplicate"] is False
    assert [r[:2] for r in stored(service)] == [("evt_1", "customer.updated")]


def test_any_of_several_v1_signatures_is_accepted(http, service):
    payload = event()
    good = sign(payload)
    timestamp, signature = good.split(",")
    header = f"{timestamp},v1={'0' * 64},{signature},v0=abc"
    assert post(http, payload, header).status_code == 200


def test_a_forged_signature_is_refused_and_nothing_stored(http, service):
    payload = event()
    for header in (
        sign(payload, secret="whsec_other"),
        None,
        "",
        "garbage",
        "t=abc,v1=00",
        sign(event("evt_other")),
    ):
        answer = post(http, payload, header)
        assert answer.status_code == 400, header
        assert answer.json()["code"] == "BAD_SIGNATURE"
    assert stored(service) == []


def test_a_tampered_body_is_refused(http, service):
    payload = event(name="Alice")
    header = sign(payload)
    assert post(http, payload.replace(b"Alice", b"Mallory"), header).status_code == 400
    assert stored(service) == []


def test_a_stale_signature_is_refused(http, service):
    payload = event()
    answer = post(http, payload, sign(payload, at=int(time.time()) - 301))
    assert answer.status_code == 400
    assert stored(service) == []


def test_a_replayed_old_delivery_is_refused_even_with_a_valid_signature(http, service):
    payload = event()
    header = sign(payload, at=int(time.time()) - 3600)
    assert post(http, payload, header).status_code == 400
    assert stored(service) == []


def test_an_oversized_body_is_refused_with_413_and_nothing_stored(http, service):
    payload = event(blob="x" * 300_000)
    answer = post(http, payload, sign(payload))
    assert answer.status_code == 413
    assert stored(service) == []


def test_a_duplicate_delivery_answers_2xx_and_changes_nothing(http, service):
    payload = event()
    first = post(http, payload, sign(payload))
    before = stored(service)
    second = post(http, payload, sign(payload))
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["duplicate"] is True
    assert stored(service) == before
    with service.context.db.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM billing_webhook_events").scalar() == 1


def test_unknown_event_types_are_stored_and_acknowledged(http, service):
    payload = event("evt_unknown", kind="radar.early_fraud_warning.created")
    answer = post(http, payload, sign(payload))
    assert (answer.status_code, answer.json()["status"]) == (200, "ignored")
    assert stored(service) == [("evt_unknown", "radar.early_fraud_warning.created", "ignored")]


def test_an_older_event_arriving_after_a_newer_one_does_not_roll_state_back(http, service):
    service.customers.create(email="a@example.com", name="Start", customer_id="cus_alpha")
    newer = event("evt_b", kind="customer.updated", created=1_767_000_100, name="New")
    older = event("evt_a", kind="customer.updated", created=1_767_000_000, name="Old")
    statuses = [post(http, payload, sign(payload)).json()["status"] for payload in (newer, older)]
    assert statuses == ["processed", "stale"]
    assert service.customers.get("cus_alpha").name == "New"
    assert [r[0] for r in stored(service)] == ["evt_a", "evt_b"]


def test_a_handled_event_is_applied_before_the_answer(http, service):
    service.customers.create(email="a@example.com", name="Start", customer_id="cus_alpha")
    payload = event("evt_c", kind="customer.updated", name="Applied", email="applied@example.com")
    answer = post(http, payload, sign(payload))
    assert answer.json()["status"] == "processed"
    customer = service.customers.get("cus_alpha")
    assert (customer.name, customer.email) == ("Applied", "applied@example.com")
    assert stored(service) == [("evt_c", "customer.updated", "processed")]


def test_a_signed_body_that_is_not_an_event_is_refused(http, service):
    for payload in (
        b"[1, 2]",
        b"{}",
        b'{"id": 5, "type": "x"}',
        b"\xff\xfe",
        b'{"id": "evt_x", "type": "x"}',
        event(created=10**20),
        event(created=-5),
        b'{"id": "evt_x", "type": "x", "created": "soon"}',
    ):
        signature = sign(payload) if payload != b"\xff\xfe" else "t=1,v1=00"
        answer = post(http, payload, signature)
        assert answer.status_code == 400, payload
    assert stored(service) == []


def test_without_a_webhook_secret_the_endpoint_answers_503(env, clock):
    import httpx

    from nself_billing import Billing

    from .conftest import RunningServer

    with Billing.from_env(env, clock=clock) as handle:
        server = RunningServer(handle)
        try:
            payload = event()
            answer = httpx.post(
                server.url + URL, content=payload, headers={"Stripe-Signature": sign(payload)}
            )
            assert answer.status_code == 503
            assert answer.json() == {
                "error": "STRIPE_WEBHOOK_SECRET is not set",
                "code": "NOT_CONFIGURED",
            }
        finally:
            server.stop()


def test_the_webhook_test_command_reaches_the_receiver(server, service, cli):
    from .conftest import WEBHOOK_SECRET

    result = cli(
        "tenant",
        "billing",
        "webhook",
        "test",
        "--url",
        server.url + URL,
        extra_env={"STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET},
    )
    assert result.exit_code == 0, result.output
    assert "Receiver answered: HTTP 200" in result.output
    assert [row[2] for row in stored(service)] == ["test"]
