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


def test_a_group_adds_each_event_to_its_own_days_and_services_rollup(billing: Billing) -> None:
    billing.customers.create(email="d@example.com", customer_id="cus_days")
    db = billing.context.db
    late = datetime(2026, 1, 15, 23, 59, 59, 999999, tzinfo=UTC)
    early = datetime(2026, 1, 16, 0, 0, tzinfo=UTC)
    group = [
        _event("cus_days", "1")._replace(recorded_at=late),
        _event("cus_days", "2", 250_000)._replace(recorded_at=late),
        _event("cus_days", "3", 1)._replace(recorded_at=early),
        _event("cus_days", "4", 7)._replace(recorded_at=early, service="storage"),
    ]
    assert len(store.write_group(db, group, now=AT)) == 4
    # a lone event seen before is no event at all
    assert store.write_group(db, [group[0]], now=AT) == set()
    with db.read() as conn:
        rows = conn.execute(
            text(
                "SELECT service_name, day, quantity_micros, events FROM billing_usage_daily"
                " ORDER BY service_name, day"
            )
        ).all()
    assert [(s, str(d)[:10], int(m), int(n)) for s, d, m, n in rows] == [
        ("api", "2026-01-15", 1_750_000, 2),
        ("api", "2026-01-16", 1, 1),
        ("storage", "2026-01-16", 7, 1),
    ]
