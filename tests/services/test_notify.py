"""Notifications over real sockets: signed deliveries to a loopback receiver, retries with
backoff, ordering, a hanging endpoint, disabling after the retry window; the audit log."""

from __future__ import annotations

import json
import os
import socket
import stat
import time

import pytest

from nself_billing import Billing
from nself_billing.services import events
from nself_billing.store import notify as notify_store

from ..support.receivers import receiver


@pytest.fixture
def make_billing(env, clock):  # type: ignore[no-untyped-def]
    handles: list[Billing] = []

    def make(**extra: str) -> Billing:
        handle = Billing.from_env({**env, **extra}, clock=clock)
        handles.append(handle)
        return handle

    yield make
    for handle in handles:
        handle.close()


def _add(billing: Billing, url: str, **kwargs):  # type: ignore[no-untyped-def]
    made = billing.notify.add_endpoint(url, **kwargs)
    return made.endpoint.endpoint_id, made.secret


def _audit_lines(billing: Billing) -> list[dict]:
    text = billing.settings.log_file.read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_state_changes_are_delivered_once_each_signed_and_in_order(billing):
    with receiver() as hooks:
        _, hooks.secret = _add(billing, hooks.url)
        billing.customers.create(email="a@example.com", name="A", customer_id="cus_a")
        billing.subscriptions.start("cus_a", "starter")
        billing.subscriptions.upgrade("cus_a", "pro")
        result = billing.notify.send()
        assert billing.notify.send().attempted == 0  # nothing left to send

    assert hooks.bad_signatures == 0
    assert hooks.types == [
        "customer.created",
        "subscription.created",
        "invoice.created",
        "invoice.finalized",
        "subscription.updated",
    ]
    assert result.sent == 5
    assert len(set(hooks.event_ids)) == 5
    upgrade = hooks.received[-1]
    assert upgrade["customer"] == "cus_a"
    assert upgrade["version"] == 1
    assert upgrade["data"]["plan"] == "pro"
    assert upgrade["data"]["previous_plan"] == "starter"
    assert upgrade["data"]["invoices"] == [hooks.received[2]["data"]["invoice"]]
    assert {d.status for d in billing.notify.deliveries()} == {"sent"}


def test_an_endpoint_gets_only_the_events_it_asked_for(billing):
    with receiver() as hooks:
        _add(billing, hooks.url, events=["subscription.created"])
        billing.customers.create(email="a@example.com", customer_id="cus_a")
        billing.subscriptions.start("cus_a", "pro")
        billing.notify.send()
    assert hooks.types == ["subscription.created"]


def test_an_endpoint_answering_500_gets_the_same_event_again_and_later_ones_wait(billing, clock):
    with receiver(500) as hooks:
        _, hooks.secret = _add(billing, hooks.url)
        billing.customers.create(email="a@example.com", customer_id="cus_a")
        billing.customers.create(email="b@example.com", customer_id="cus_b")
        first = billing.notify.send()
        assert (first.sent, first.retried) == (0, 1)
        # the second event is held back behind the first: order by id is kept
        assert billing.notify.send().attempted == 0
        clock.advance(seconds=29)
        assert billing.notify.send().attempted == 0  # the backoff is 30 s
        clock.advance(seconds=2)
        second = billing.notify.send()

    assert second.sent == 2
    assert [(r["type"], r["customer"], r["_status"]) for r in hooks.received] == [
        ("customer.created", "cus_a", 500),
        ("customer.created", "cus_a", 200),
        ("customer.created", "cus_b", 200),
    ]
    assert hooks.event_ids[0] == hooks.event_ids[1]  # the receiver can deduplicate
    retried = next(d for d in billing.notify.deliveries() if d.customer_id == "cus_a")
    assert (retried.status, retried.attempts, retried.last_status) == ("sent", 2, 200)


def test_a_hanging_endpoint_holds_up_only_itself(make_billing):
    billing = make_billing(BILLING_NOTIFY_TIMEOUT="1")
    with receiver("hang") as stuck, receiver() as healthy:
        _add(billing, stuck.url)
        _, healthy.secret = _add(billing, healthy.url)
        billing.customers.create(email="a@example.com", customer_id="cus_a")
        started = time.monotonic()
        result = billing.notify.send()
        elapsed = time.monotonic() - started

    assert healthy.types == ["customer.created"]
    assert (result.sent, result.retried) == (1, 1)
    assert elapsed < 10
    waiting = billing.notify.deliveries(status="pending")
    assert len(waiting) == 1 and "timed out" in (waiting[0].last_error or "")


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone"


def test_an_endpoint_down_for_three_days_is_disabled_with_a_log_line(billing, clock):
    endpoint_id, _ = _add(billing, _closed_port_url())
    billing.customers.create(email="a@example.com", customer_id="cus_a")
    billing.customers.create(email="b@example.com", customer_id="cus_b")
    attempts = 0
    for _ in range(40):  # backoff doubles from 30 s up to 6 h: about 20 tries in 3 days
        result = billing.notify.send()
        attempts += result.attempted
        if result.disabled:
            break
        clock.advance(hours=6)
    assert result.disabled == [endpoint_id]
    assert 5 < attempts < 30
    (endpoint,) = billing.notify.endpoints()
    assert endpoint.status == "disabled"
    assert "72 hours" in (endpoint.disabled_reason or "")
    assert [d.status for d in billing.notify.deliveries()] == ["failed", "failed"]
    lines = [
        line for line in _audit_lines(billing) if line.get("event") == "notify.endpoint_disabled"
    ]
    assert len(lines) == 1 and lines[0]["level"] == "error"
    assert lines[0]["endpoint"] == endpoint_id
    # a new state change is not queued for a disabled endpoint
    billing.customers.create(email="c@example.com", customer_id="cus_c")
    assert len(billing.notify.deliveries()) == 2


def test_retry_requeues_a_failed_delivery_and_enables_its_endpoint(billing, clock):
    with receiver() as hooks:
        endpoint_id, hooks.secret = _add(billing, hooks.url)
        billing.notify.set_enabled(endpoint_id, False)
        billing.customers.create(email="a@example.com", customer_id="cus_a")
        assert billing.notify.deliveries() == []  # disabled: nothing queued
        billing.notify.set_enabled(endpoint_id, True)
        billing.customers.create(email="b@example.com", customer_id="cus_b")
        billing.notify.send()
        (delivered,) = billing.notify.deliveries(status="sent")
        with billing.context.db.write() as conn:
            notify_store.fail_one(conn, delivered.id, error="by test", status=None)
        billing.notify.retry(delivered.id)
        billing.notify.send()
    assert hooks.types == ["customer.created", "customer.created"]
    assert hooks.event_ids[0] == hooks.event_ids[1]


def test_a_change_that_rolls_back_is_neither_notified_nor_logged(billing):
    _add(billing, _closed_port_url())
    with pytest.raises(RuntimeError), billing.context.db.write() as conn:
        events.record(billing.context, conn, "customer.created", customer_id="cus_x", data={"x": 1})
        raise RuntimeError("the use case failed after recording")
    assert billing.notify.deliveries() == []
    assert not [line for line in _audit_lines(billing) if line.get("customer") == "cus_x"]


def test_every_state_change_is_one_audit_line_with_actor_customer_and_amounts(billing, clock):
    from nself_billing.actor import acting_as

    with acting_as("cli:operator"):
        billing.customers.create(email="a@example.com", customer_id="cus_a")
        billing.subscriptions.start("cus_a", "starter")
        upgrade = billing.subscriptions.upgrade("cus_a", "pro")
        billing.subscriptions.cancel("cus_a")
        billing.subscriptions.reactivate("cus_a")
        key = billing.apikeys.create(customer_id="cus_a")
        billing.apikeys.revoke(key.key.key_id)
    lines = [line for line in _audit_lines(billing) if "actor" in line]
    assert [line["event"] for line in lines] == [
        "customer.created",
        "subscription.created",
        "invoice.created",
        "invoice.finalized",
        "subscription.updated",
        "subscription.cancelled",
        "subscription.reactivated",
        "apikey.created",
        "apikey.revoked",
    ]
    assert {line["actor"] for line in lines} == {"cli:operator"}
    assert {line["customer"] for line in lines} == {"cus_a"}
    invoice = lines[3]["data"]
    assert upgrade.invoice is not None
    assert invoice["invoice"] == upgrade.invoice.invoice_id
    assert invoice["total"] == str(upgrade.invoice.total)
    assert all(line["time"].endswith("Z") for line in lines)
    assert key.secret not in billing.settings.log_file.read_text()
    assert stat.S_IMODE(os.stat(billing.settings.log_file).st_mode) == 0o600


def test_the_billing_log_rotates_by_size_and_stays_owner_only(make_billing):
    billing = make_billing(BILLING_LOG_MAX_BYTES="2000")
    for n in range(20):
        billing.customers.create(email=f"c{n}@example.com", customer_id=f"cus_{n:04d}")
    log = billing.settings.log_file
    rotated = sorted(log.parent.glob(log.name + ".*"))
    assert rotated, "no rotation happened"
    assert len(rotated) <= 5
    for path in [log, *rotated]:
        assert path.stat().st_size <= 2000 + 500
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_debug_level_logs_sql_timings_and_provider_calls(make_billing):
    billing = make_billing(NSELF_LOG_LEVEL="debug")
    billing.customers.create(email="a@example.com", customer_id="cus_a")
    lines = _audit_lines(billing)
    sql = [line for line in lines if line.get("event") == "sql"]
    calls = [line for line in lines if line.get("event") == "provider_call"]
    assert sql and all(isinstance(line["ms"], float) for line in sql)
    assert any(line["call"] == "create_customer" for line in calls)


def test_quota_thresholds_and_a_blocked_request_are_notified_once(billing, customer_id, clock):
    billing.quotas.set_override("api", 10, mode="hard")
    with receiver() as hooks:
        _, hooks.secret = _add(billing, hooks.url, events=["quota.threshold", "quota.exceeded"])
        for _ in range(10):
            assert billing.quotas.consume("api", 1).admitted
        for _ in range(5):
            assert not billing.quotas.consume("api", 1).admitted
        assert not billing.quotas.enforce("api", 1).allowed
        clock.advance(hours=1)
        assert not billing.quotas.consume("api", 1).admitted
        billing.notify.send()
    thresholds = [r["data"]["threshold"] for r in hooks.received if r["type"] == "quota.threshold"]
    assert sorted(thresholds) == [75, 90, 100]
    exceeded = [r for r in hooks.received if r["type"] == "quota.exceeded"]
    assert len(exceeded) == 2  # one per customer, service and hour
    assert exceeded[0]["data"]["service"] == "api"
    assert exceeded[0]["data"]["limit"] == "10"
    assert hooks.bad_signatures == 0


def test_cycle_invoices_and_the_run_are_notified(billing, customer_id, clock):
    with receiver() as hooks:
        _add(billing, hooks.url, events=["invoice.finalized", "cycle.completed"])
        clock.advance(days=40)
        ran = billing.cycle.run()
        billing.notify.send()
    assert ran.closed == 1
    assert hooks.types == ["invoice.finalized", "cycle.completed"]
    assert hooks.received[0]["data"]["invoice"] == ran.invoice_ids[0]
    assert hooks.received[1]["data"]["closed"] == 1


def test_the_verifier_in_the_docs_accepts_a_real_delivery_and_refuses_a_forged_one(billing):
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "NOTIFICATIONS.md").read_text()
    block = doc.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(block, namespace)  # the operator's verifier, exactly as documented
    verify = namespace["verify"]
    captured: list[tuple[bytes, str]] = []

    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            captured.append((body, self.headers["Nself-Signature"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        made = billing.notify.add_endpoint(f"http://127.0.0.1:{server.server_address[1]}/")
        billing.notify.test()
        assert billing.notify.send().sent == 1
    finally:
        server.shutdown()
        server.server_close()
    ((body, header),) = captured
    assert verify(made.secret, body, header)
    assert not verify(made.secret, body + b" ", header)
    assert not verify("whsec_other", body, header)
    assert json.loads(body)["type"] == "notification.test"


def test_payment_method_changes_are_recorded_without_card_details(billing, customer_id):
    first = billing.payment_methods.add(customer_id, brand="visa", last4="4242", expiry="12/30")
    second = billing.payment_methods.add(
        customer_id, brand="mastercard", last4="4444", expiry="11/31"
    )
    billing.payment_methods.set_default(customer_id, second.payment_method_id)
    billing.payment_methods.remove(customer_id, first.payment_method_id)
    lines = [line for line in _audit_lines(billing) if line["event"].startswith("payment_method.")]
    assert [(line["event"], line["data"]["payment_method"]) for line in lines] == [
        ("payment_method.attached", first.payment_method_id),
        ("payment_method.attached", second.payment_method_id),
        ("payment_method.default_set", second.payment_method_id),
        ("payment_method.detached", first.payment_method_id),
    ]
    assert lines[0]["data"]["last4"] == "4242"
    assert lines[0]["customer"] == customer_id


def test_stripe_webhooks_that_change_the_mirror_are_notified_once(billing):
    from nself_billing.services.stripe.webhook_events import apply_stripe_event
    from tests.services.test_stripe_events import event
    from tests.support.stripe_fake import fixture

    with receiver() as hooks:
        _, hooks.secret = _add(billing, hooks.url)
        created = event(
            "evt_s1", "customer.subscription.created", fixture("subscription"), 1768478400
        )
        assert apply_stripe_event(billing.context, created) == "processed"
        assert apply_stripe_event(billing.context, created) == "duplicate"
        paid = fixture("invoice", status="paid", status_transitions={"paid_at": 1768478500})
        apply_stripe_event(billing.context, event("evt_p1", "invoice.paid", paid, 1768478500))
        late = event("evt_f1", "invoice.finalized", fixture("invoice"), 1768478460)
        assert apply_stripe_event(billing.context, late) == "stale"  # not notified
        billing.notify.send()
    assert hooks.types == ["subscription.created", "invoice.paid"]
    assert hooks.received[0]["data"]["stripe_event"] == "evt_s1"
    assert hooks.received[1]["data"]["total"] == "99.00"
    assert hooks.received[1]["customer"] == "cus_T3st0000000001"
