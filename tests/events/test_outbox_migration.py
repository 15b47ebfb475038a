"""Migration 0015 (one outbox row per accepting statement) on a database whose capture trigger
wrote one row per event: the events waiting keep their place, the trigger writes the new rows,
and every event reaches ClickHouse once; down and up again loses nothing."""

from __future__ import annotations

import pytest

from nself_billing import Billing, UsageEvent

from ..support.migrations import migrate_to


@pytest.fixture
def backend() -> str:
    return "clickhouse"


def _step(billing: Billing, step: str) -> None:
    if step == "down":  # to before 0015, whatever comes after it
        migrate_to(billing.context.db, "0014", down=True)
    else:
        migrate_to(billing.context.db, "head")


def _outbox(billing: Billing) -> list[list[int]]:
    with billing.context.db.read() as conn:
        return [
            list(ids)
            for (ids,) in conn.exec_driver_sql(
                "SELECT record_ids FROM billing_event_outbox ORDER BY id"
            )
        ]


def _record_ids(billing: Billing) -> list[int]:
    with billing.context.db.read() as conn:
        return [i for (i,) in conn.exec_driver_sql("SELECT id FROM billing_usage_records")]


def test_one_outbox_row_per_statement_and_the_upgrade_keeps_what_waits(billing, customer_id):
    billing.usage.record_many([UsageEvent("api", 1, idempotency_key=f"a{i}") for i in range(300)])
    billing.usage.record("api", 1, idempotency_key="one")
    rows = _outbox(billing)
    assert [len(ids) for ids in rows] == [300, 1]  # per statement, not per event

    _step(billing, "down")  # the per-event outbox of 0013, and its trigger
    with billing.context.db.read() as conn:
        waiting = conn.exec_driver_sql(
            "SELECT usage_record_id FROM billing_event_outbox ORDER BY id"
        ).all()
    assert sorted(i for (i,) in waiting) == sorted(_record_ids(billing))
    billing.usage.record("api", 1, idempotency_key="under-0013")  # one row, as 0013 wrote it

    _step(billing, "up")
    rows = _outbox(billing)
    assert len(rows) == 302 and all(len(ids) == 1 for ids in rows)
    billing.usage.record_many([UsageEvent("api", 1, idempotency_key=f"b{i}") for i in range(200)])
    assert [len(ids) for ids in _outbox(billing)][-1] == 200  # the new trigger writes one row

    result = billing.events.ship(batch_size=128)
    assert result.events == 502
    assert billing.events.clickhouse.count() == (502, 502)
    assert billing.events.status().pending == 0
    assert billing.events.reconcile().consistent


def test_a_statement_of_more_than_10000_events_is_split_into_rows(billing, customer_id):
    with billing.context.db.write() as conn:
        conn.exec_driver_sql(
            "INSERT INTO billing_usage_records (customer_id, service_name, quantity,"
            " quantity_micros, metadata, recorded_at, idempotency_key)"
            " SELECT %s, 'api', 1, 1000000, '{}', '2026-01-15 10:00:00+00', 'k' || g"
            " FROM generate_series(1, 25000) g",
            (customer_id,),
        )
    rows = _outbox(billing)
    assert sorted(len(ids) for ids in rows) == [5_000, 10_000, 10_000]
    assert sorted(i for ids in rows for i in ids) == sorted(_record_ids(billing))
    assert billing.events.ship(batch_size=7_000).batches == 4
    assert billing.events.clickhouse.count() == (25_000, 25_000)
