"""The usage outbox: every recorded event reaches Stripe once, whatever fails on the way."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from nself_billing import Billing
from nself_billing.providers.stripe import StripeProvider
from nself_billing.services.stripe.usage_outbox import OutboxService
from nself_billing.services.stripe.webhook_events import apply_stripe_event
from nself_billing.settings import Settings
from nself_billing.store.outbox import enqueue_usage
from nself_billing.store.tables import usage_outbox, usage_records
from tests.conftest import FrozenClock
from tests.support.stripe_fake import MeterSink, fixture

CUSTOMER = "cus_T3st0000000001"


@pytest.fixture
def sink() -> MeterSink:
    return MeterSink()


@pytest.fixture
def stripe_billing(env: dict[str, str], clock: FrozenClock, sink: MeterSink) -> Iterator[Billing]:
    environ = env | {"STRIPE_SECRET_KEY": "sk_test_outbox", "STRIPE_API_BASE": "http://sink/v1"}
    # the outbox's own retries are under test here, not the SDK's
    provider = StripeProvider(Settings.from_env(environ), http_client=sink, max_network_retries=0)
    handle = Billing.from_env(environ, clock=clock, provider=provider)
    made = handle.customers.create(email="john@example.com", name="John")  # Stripe assigns the id
    assert made.customer_id == CUSTOMER
    yield handle
    handle.close()


def record(
    billing: Billing, count: int, *, service: str = "api", quantity: str = "1", prefix: str = "req"
) -> None:
    """Record usage and queue it in the same transaction, as the metering hook will."""
    for i in range(count):
        billing.usage.record(
            service, quantity, customer_id=CUSTOMER, idempotency_key=f"{prefix}-{i}"
        )
    with billing.context.db.write() as conn:
        ids = list(conn.execute(select(usage_records.c.id)).scalars())
        enqueue_usage(conn, ids)


def outbox(billing: Billing) -> OutboxService:
    # one request at a time: the tests program the fake's answers in order
    return OutboxService(billing.context, sleep=lambda _seconds: None, concurrency=1)


def test_a_drain_sends_every_pending_event_once(stripe_billing: Billing, sink: MeterSink) -> None:
    record(stripe_billing, 250)
    result = stripe_billing.outbox.drain()  # four requests in flight
    assert (result.sent, result.requests) == (250, 3)
    assert sorted(len(r) for r in sink.stream_requests) == [50, 100, 100]
    assert len(sink.accepted) == 250
    status = stripe_billing.outbox.status()
    assert (status.pending, status.sent, status.failed) == (0, 250, 0)
    assert outbox(stripe_billing).drain().sent == 0


def test_queueing_the_same_usage_twice_keeps_one_row(stripe_billing: Billing) -> None:
    record(stripe_billing, 3)
    record(stripe_billing, 3)
    assert stripe_billing.outbox.status().pending == 3


def test_a_drain_that_fails_midway_resumes_without_duplicates(
    stripe_billing: Billing, sink: MeterSink
) -> None:
    record(stripe_billing, 300)
    sink.fail_next(200, 503, 503, 503)
    first = outbox(stripe_billing).drain(max_retries=2)
    assert first.sent == 100 and first.stopped_by is not None
    assert stripe_billing.outbox.status().pending == 200
    # the rows wait for their next attempt time; a later drain picks them up
    stripe_billing.context.clock.advance(minutes=10)  # type: ignore[attr-defined]
    second = outbox(stripe_billing).drain()
    assert second.sent == 200
    sent_ok = [
        ids
        for ids, answer in zip(sink.stream_requests, [200, 503, 503, 503, 200, 200], strict=True)
        if answer == 200
    ]
    flat = [i for ids in sent_ok for i in ids]
    assert len(flat) == len(set(flat)) == 300
    # every retry of the failed batch carried exactly the same identifiers
    assert sink.stream_requests[1] == sink.stream_requests[2] == sink.stream_requests[4]


def test_a_lost_acknowledgement_resends_the_same_identifiers(
    stripe_billing: Billing, sink: MeterSink
) -> None:
    record(stripe_billing, 50)
    sink.fail_next("lost")
    result = outbox(stripe_billing).drain()
    assert result.sent == 50 and result.retried_requests == 1
    assert sink.stream_requests[0] == sink.stream_requests[1]
    assert len(sink.accepted) == 50


def test_rate_limits_are_retried_with_backoff(stripe_billing: Billing, sink: MeterSink) -> None:
    record(stripe_billing, 10)
    sink.fail_next(429, 429)
    slept: list[float] = []
    result = OutboxService(stripe_billing.context, sleep=slept.append, concurrency=1).drain()
    assert result.sent == 10 and len(slept) == 2 and slept[1] >= slept[0] / 2


def test_a_refused_batch_is_reported_failed_and_can_be_requeued(
    stripe_billing: Billing, sink: MeterSink
) -> None:
    record(stripe_billing, 5)
    sink.fail_next(400)
    result = outbox(stripe_billing).drain()
    assert (result.sent, result.failed) == (0, 5)
    status = stripe_billing.outbox.status()
    assert status.failed == 5 and "fake failure 400" in (status.last_error or "")
    assert stripe_billing.outbox.requeue_failed() == 5
    assert outbox(stripe_billing).drain().sent == 5


def test_events_older_than_35_days_are_reported_not_dropped(
    stripe_billing: Billing, sink: MeterSink, clock: FrozenClock
) -> None:
    record(stripe_billing, 4)
    clock.advance(days=36)
    assert stripe_billing.outbox.status().pending_too_old == 4
    result = outbox(stripe_billing).drain()
    assert (result.sent, result.expired) == (0, 4)
    assert not sink.stream_requests
    with stripe_billing.context.db.read() as conn:
        rows = conn.execute(select(usage_outbox.c.status, usage_outbox.c.last_error)).all()
    assert {r.status for r in rows} == {"expired"} and "35 days" in rows[0].last_error
    assert stripe_billing.outbox.status().expired == 4


def test_reconcile_shows_what_stripe_is_missing(
    stripe_billing: Billing, sink: MeterSink, clock: FrozenClock
) -> None:
    apply_stripe_event(
        stripe_billing.context,
        {
            "id": "evt_sub",
            "type": "customer.subscription.created",
            "created": 1768478400,
            "data": {"object": fixture("subscription")},
        },
    )
    record(stripe_billing, 30, quantity="2")
    outbox(stripe_billing).drain(max_events=20)
    clock.advance(minutes=1)
    (line,) = stripe_billing.outbox.reconcile()
    assert (line.service, line.ours, line.stripe, line.unsent) == (
        "api",
        Decimal("60"),
        Decimal("40"),
        Decimal("20"),
    )
    assert line.difference == Decimal(0)
    sink.accepted.pop(next(iter(sink.accepted)))  # Stripe lost one event
    (line,) = stripe_billing.outbox.reconcile()
    assert line.difference == Decimal(2)


def test_retries_wait_for_their_next_attempt_time(stripe_billing: Billing, sink: MeterSink) -> None:
    record(stripe_billing, 3)
    sink.fail_next(500, 500)
    assert outbox(stripe_billing).drain(max_retries=1).stopped_by
    assert outbox(stripe_billing).drain().sent == 0  # not due yet
    stripe_billing.context.clock.advance(seconds=timedelta(minutes=6).total_seconds())  # type: ignore[attr-defined]
    assert outbox(stripe_billing).drain().sent == 3


def test_the_background_worker_drains_until_stopped(
    stripe_billing: Billing, sink: MeterSink
) -> None:
    import threading
    import time

    record(stripe_billing, 120)
    stop = threading.Event()
    worker = threading.Thread(
        target=stripe_billing.outbox.run_worker, args=(stop,), kwargs={"idle_seconds": 0.05}
    )
    worker.start()
    deadline = time.monotonic() + 30  # generous: a loaded CI host
    while stripe_billing.outbox.status().sent < 120 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert len(sink.accepted) == 120


def test_backfill_queues_usage_recorded_without_the_hook(
    stripe_billing: Billing, sink: MeterSink, env: dict[str, str], clock: FrozenClock
) -> None:
    # recorded before Stripe was configured (the local provider queues nothing)
    with Billing.from_env(env, clock=clock) as local:
        for i in range(5):
            local.usage.record("api", "1", customer_id=CUSTOMER, idempotency_key=f"sql-{i}")
    assert stripe_billing.outbox.status().pending == 0
    assert stripe_billing.outbox.backfill() == 5
    assert stripe_billing.outbox.backfill() == 0
    assert outbox(stripe_billing).drain().sent == 5


def test_a_batch_refused_for_the_account_stays_pending_and_stops_the_sync(
    stripe_billing: Billing, sink: MeterSink
) -> None:
    record(stripe_billing, 3)
    sink.fail_next(403)
    result = outbox(stripe_billing).drain()
    assert result.stopped_by and result.failed == 0
    counts = stripe_billing.outbox.status()
    assert (counts.pending, counts.failed, counts.sent) == (3, 0, 0)


def test_an_unanswered_event_is_resent_only_within_stripes_24_hour_window(
    stripe_billing: Billing, sink: MeterSink, clock: FrozenClock
) -> None:
    record(stripe_billing, 2)
    sink.fail_next(500)
    assert outbox(stripe_billing).drain(max_retries=0).stopped_by
    clock.advance(hours=23)
    sink.fail_next(500)
    assert outbox(stripe_billing).drain(max_retries=0).stopped_by  # still in the window
    clock.advance(hours=2)
    result = outbox(stripe_billing).drain()
    assert (result.sent, result.unknown) == (0, 2)
    counts = stripe_billing.outbox.status()
    assert (counts.pending, counts.unknown) == (0, 2)
    # reconcile showed Stripe does not have them: queued again, with a new window
    assert stripe_billing.outbox.requeue_unknown() == 2
    assert outbox(stripe_billing).drain().sent == 2
