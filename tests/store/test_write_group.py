"""``events.write_group``, the write of a group of small requests (on PostgreSQL the procedure
of migration 0014, committed before its WAL flush): each identity stored once, its rollup and
(with the Stripe outbox) its outbox row with it, and nothing at all when a customer is
unknown."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text

from nself_billing import Billing
from nself_billing.errors import NotFound
from nself_billing.store import events as store

AT = datetime(2026, 1, 15, 12, 0, 0, 123456, tzinfo=UTC)


def _event(customer: str, key: str, micros: int = 1_500_000) -> store.NewUsage:
    return store.NewUsage(
        customer_id=customer,
        service="api",
        quantity=Decimal(micros) / 1_000_000,
        quantity_micros=micros,
        metadata={"n": key},
        recorded_at=AT,
        idempotency_key=key,
        metadata_json=f'{{"n": "{key}"}}',
    )


def _counts(billing: Billing) -> tuple[int, int, int, int]:
    with billing.context.db.read() as conn:
        records, micros = conn.execute(
            text("SELECT count(*), coalesce(sum(quantity_micros), 0) FROM billing_usage_records")
        ).one()
        rolled, events = conn.execute(
            text(
                "SELECT coalesce(sum(quantity_micros), 0), coalesce(sum(events), 0)"
                " FROM billing_usage_daily"
            )
        ).one()
    return int(records), int(micros), int(rolled), int(events)


@pytest.mark.parametrize("queue_outbox", [False, True])
def test_each_identity_is_stored_once_with_its_rollup(billing: Billing, queue_outbox) -> None:
    for customer in ("cus_g1", "cus_g2"):
        billing.customers.create(email=f"{customer}@example.com", customer_id=customer)
    db = billing.context.db
    first = [_event("cus_g1", "a"), _event("cus_g1", "b"), _event("cus_g2", "a")]
    assert store.write_group(db, first, now=AT, queue_outbox=queue_outbox) == {
        ("cus_g1", "a"),
        ("cus_g1", "b"),
        ("cus_g2", "a"),
    }
    # a second group with two of them again: only the new one is new
    again = [_event("cus_g1", "b"), _event("cus_g2", "a"), _event("cus_g2", "c")]
    assert store.write_group(db, again, now=AT, queue_outbox=queue_outbox) == {("cus_g2", "c")}
    assert _counts(billing) == (4, 6_000_000, 6_000_000, 4)
    with db.read() as conn:
        queued = conn.execute(text("SELECT count(*) FROM billing_usage_outbox")).scalar_one()
        metadata = conn.execute(
            text(
                "SELECT metadata FROM billing_usage_records"
                " WHERE customer_id = 'cus_g2' AND idempotency_key = 'c'"
            )
        ).scalar_one()
    assert queued == (4 if queue_outbox else 0)
    assert metadata in ({"n": "c"}, '{"n": "c"}')


def test_a_group_with_an_unknown_customer_writes_nothing(billing: Billing) -> None:
    billing.customers.create(email="k@example.com", customer_id="cus_known")
    group = [_event("cus_known", "x"), _event("cus_nobody", "y")]
    with pytest.raises(NotFound):
        store.write_group(billing.context.db, group, now=AT)
    assert _counts(billing) == (0, 0, 0, 0)
