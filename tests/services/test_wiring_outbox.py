"""Usage recording queues each new event in the Stripe outbox exactly once when Stripe is the
provider (same statement or transaction as the event), and never with the local provider.
Single events, batches and quota consumption, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from nself_billing import Billing
from nself_billing.store import outbox
from nself_billing.store.tables import usage_outbox, usage_records
from tests.conftest import FrozenClock


@pytest.fixture
def on_stripe(env: dict[str, str], clock: FrozenClock, customer_id: str) -> Iterator[Billing]:
    """The test's database with Stripe configured (recording usage never calls Stripe)."""
    handle = Billing.from_env(env | {"STRIPE_SECRET_KEY": "sk_test_outbox_wiring"}, clock=clock)
    yield handle
    handle.close()


def _rows(billing: Billing) -> list[tuple[object, ...]]:
    with billing.context.db.read() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(
                    usage_outbox.c.usage_record_id,
                    usage_outbox.c.identifier,
                    usage_outbox.c.customer_id,
                    usage_outbox.c.service_name,
                    usage_outbox.c.quantity_micros,
                    usage_outbox.c.recorded_at,
                    usage_outbox.c.status,
                ).order_by(usage_outbox.c.usage_record_id)
            )
        ]


def _expected(billing: Billing) -> list[tuple[object, ...]]:
    """One pending outbox row per stored usage event, with its id and columns."""
    with billing.context.db.read() as conn:
        return [
            (
                r.id,
                outbox.outbox_identifier(r.customer_id, r.idempotency_key),
                r.customer_id,
                r.service_name,
                r.quantity_micros,
                r.recorded_at,
                "pending",
            )
            for r in conn.execute(select(usage_records).order_by(usage_records.c.id))
        ]


def _count(billing: Billing, table: object) -> int:
    with billing.context.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)


def test_single_events_are_queued_once(
    on_stripe: Billing, customer_id: str, clock: FrozenClock
) -> None:
    on_stripe.usage.record("api", 3, idempotency_key="a")
    on_stripe.usage.record("storage", "1.5", idempotency_key="b", at=clock() - timedelta(days=2))
    assert on_stripe.usage.record("api", 3, idempotency_key="a").recorded is False  # replay
    on_stripe.usage.track_api_request("/users")
    rows = _rows(on_stripe)
    assert len(rows) == 3
    assert rows == _expected(on_stripe)


def test_batches_are_queued_once(on_stripe: Billing, customer_id: str) -> None:
    on_stripe.usage.record("api", 1, idempotency_key="k1")
    result = on_stripe.usage.record_many(
        [
            {"service": "api", "quantity": 2, "idempotency_key": "k1"},  # seen before
            {"service": "api", "quantity": 2, "idempotency_key": "k2"},
            {"service": "api", "quantity": 2, "idempotency_key": "k2"},  # twice in the batch
            {"service": "compute", "quantity": "0.25", "idempotency_key": "k3"},
        ]
    )
    assert result.accepted == 2
    again = on_stripe.usage.record_many(
        [{"service": "api", "quantity": 5, "idempotency_key": k} for k in ("k2", "k3", "k4")]
    )
    assert again.accepted == 1
    rows = _rows(on_stripe)
    assert len(rows) == 4
    assert rows == _expected(on_stripe)


def test_consumed_quota_usage_is_queued(on_stripe: Billing, customer_id: str) -> None:
    on_stripe.quotas.consume("api", 1, idempotency_key="c1")
    on_stripe.quotas.consume("api", 1, idempotency_key="c1")
    assert _rows(on_stripe) == _expected(on_stripe)
    assert len(_rows(on_stripe)) == 1


def test_queued_rows_are_what_the_drain_claims(
    on_stripe: Billing, customer_id: str, clock: FrozenClock
) -> None:
    on_stripe.usage.record("api", 7, idempotency_key="d1")
    on_stripe.usage.record_many([{"service": "api", "quantity": 1, "idempotency_key": "d2"}])
    with on_stripe.context.db.write() as conn:
        claimed = outbox.claim(
            conn,
            now=clock() + timedelta(minutes=1),
            limit=10,
            lease=timedelta(minutes=5),
            token="t",
        )
    assert sorted(r.quantity_micros for r in claimed) == [1_000_000, 7_000_000]
    # and a backfill finds nothing missing
    assert on_stripe.outbox.backfill() == 0


def test_the_local_provider_queues_nothing(billing: Billing, customer_id: str) -> None:
    billing.usage.record("api", 3, idempotency_key="a")
    billing.usage.record_many([{"service": "api", "quantity": 1, "idempotency_key": "b"}])
    billing.quotas.consume("api", 1, idempotency_key="c")
    assert _count(billing, usage_records) == 3
    assert _count(billing, usage_outbox) == 0
