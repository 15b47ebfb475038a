"""``consume`` writes exactly what ``record`` writes (on PostgreSQL it has its own one-statement
path: this keeps it equal to ``store.events.record_one``)."""

from sqlalchemy import select

from nself_billing.store.tables import usage_daily, usage_records


def _rows(billing, key):
    with billing.context.db.read() as conn:
        row = (
            conn.execute(select(usage_records).where(usage_records.c.idempotency_key == key))
            .one()
            ._asdict()
        )
    row.pop("id")
    row.pop("idempotency_key")
    return row


def test_consume_and_record_write_the_same_event_and_rollup(billing, customer_id):
    metadata = {"endpoint": "/api/users", "method": "GET", "status": 200}
    billing.usage.record("compute", "0.25", metadata, idempotency_key="recorded")
    assert (
        billing.quotas.consume("compute", "0.25", metadata, idempotency_key="consumed").recorded
        is True
    )
    assert _rows(billing, "consumed") == _rows(billing, "recorded")
    with billing.context.db.read() as conn:
        rollups = conn.execute(select(usage_daily)).all()
    assert [(r.service_name, r.quantity_micros, r.events) for r in rollups] == [
        ("compute", 500_000, 2)
    ]


def test_consume_without_durability_wait_still_never_passes_a_hard_limit(billing, customer_id):
    billing.quotas.durable_consume = False
    billing.quotas.set_override("api", 2, mode="hard")
    assert [billing.quotas.consume("api").admitted for _ in range(3)] == [True, True, False]
    assert billing.quotas.status("api").usage == 2


def test_consume_queues_for_stripe_exactly_as_the_outbox_does(billing, customer_id):
    from datetime import UTC, date, datetime
    from decimal import Decimal

    from nself_billing.store import events as store
    from nself_billing.store.outbox import OutboxUsage, enqueue_records, outbox_identifier
    from nself_billing.store.tables import usage_outbox

    moment = datetime(2026, 1, 15, 12, 30, tzinfo=UTC)
    reader = billing.quotas._reader
    consume = store.pg_consume if billing.context.db.is_postgresql else store.sqlite_consume
    extra = {"durable": True} if billing.context.db.is_postgresql else {"check_key": True}
    row = consume(
        reader,
        customer_id=customer_id,
        service="api",
        quantity=Decimal(3),
        micros=3_000_000,
        metadata={},
        recorded_at=moment,
        key="k-consume",
        now=moment,
        first_day=date(2026, 1, 15),
        end_day=date(2026, 2, 15),
        limit_micros=10**9,
        hard=True,
        queue_outbox=True,
        **extra,
    )
    assert row.inserted
    with billing.context.db.write() as conn:
        record_id = conn.execute(
            select(usage_records.c.id).where(usage_records.c.idempotency_key == "k-consume")
        ).scalar_one()
        enqueue_records(
            conn, [OutboxUsage(customer_id, "api", 3_000_000, moment, "k-other", record_id)]
        )
    with billing.context.db.read() as conn:
        rows = [r._asdict() for r in conn.execute(select(usage_outbox).order_by(usage_outbox.c.id))]
    for r in rows:
        r.pop("id")
        r.pop("created_at", None)  # the server's clock
    consumed, enqueued = rows
    assert consumed.pop("identifier") != enqueued.pop("identifier")
    assert consumed == enqueued
    with billing.context.db.read() as conn:
        identifier = (
            conn.execute(select(usage_outbox.c.identifier).order_by(usage_outbox.c.id))
            .scalars()
            .first()
        )
    assert identifier == outbox_identifier(customer_id, "k-consume")
