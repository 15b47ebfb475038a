"""``serve`` drains the usage outbox in the background when Stripe is the provider."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from nself_billing import Billing
from nself_billing.cli.serve import outbox_worker
from nself_billing.providers.stripe import StripeProvider
from nself_billing.settings import Settings
from tests.conftest import FrozenClock
from tests.support.stripe_fake import MeterSink


@pytest.fixture
def sink() -> MeterSink:
    return MeterSink()


@pytest.fixture
def on_stripe(env: dict[str, str], clock: FrozenClock, sink: MeterSink) -> Iterator[Billing]:
    environ = env | {"STRIPE_SECRET_KEY": "sk_test_serve", "STRIPE_API_BASE": "http://sink/v1"}
    provider = StripeProvider(Settings.from_env(environ), http_client=sink, max_network_retries=0)
    handle = Billing.from_env(environ, clock=clock, provider=provider)
    handle.customers.create(email="john@example.com", name="John")
    yield handle
    handle.close()


def test_the_worker_sends_what_is_recorded_while_it_runs(
    on_stripe: Billing, sink: MeterSink
) -> None:
    with outbox_worker(on_stripe, idle_seconds=0.05) as draining:
        assert draining
        on_stripe.usage.record_many(
            [{"service": "api", "quantity": 1, "idempotency_key": f"serve-{i}"} for i in range(30)]
        )
        deadline = time.monotonic() + 30  # generous: a loaded CI host
        while on_stripe.outbox.status().sent < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(sink.accepted) == 30
    assert on_stripe.outbox.status().pending == 0


def test_no_worker_with_the_local_provider(billing: Billing) -> None:
    with outbox_worker(billing) as draining:
        assert draining is False
