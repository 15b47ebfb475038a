"""``consume`` writes exactly what ``record`` writes (on PostgreSQL it has its own one-statement
path: this keeps it equal to ``store.usage.insert_event``)."""

from sqlalchemy import select

from nself_billing.store.tables import usage_daily, usage_records


def _rows(billing, key):
    with billing.context.db.read() as conn:
        row = conn.execute(select(usage_records).where(
            usage_records.c.idempotency_key == key)).one()._asdict()
    row.pop("id")
    row.pop("idempotency_key")
    return row


def test_consume_and_record_write_the_same_event_and_rollup(billing, customer_id):
    metadata = {"endpoint": "/api/users", "method": "GET", "status": 200}
    billing.usage.record("compute", "0.25", metadata, idempotency_key="recorded")
    assert billing.quotas.consume("compute", "0.25", metadata,
                                  idempotency_key="consumed").recorded is True
    assert _rows(billing, "consumed") == _rows(billing, "recorded")
    with billing.context.db.read() as conn:
        rollups = conn.execute(select(usage_daily)).all()
    assert [(r.service_name, r.quantity_micros, r.events) for r in rollups] == [
        ("compute", 500_000, 2)]


def test_consume_without_durability_wait_still_never_passes_a_hard_limit(billing, customer_id):
    billing.quotas.durable_consume = False
    billing.quotas.set_override("api", 2, mode="hard")
    assert [billing.quotas.consume("api").admitted for _ in range(3)] == [True, True, False]
    assert billing.quotas.status("api").usage == 2
