"""PostgreSQL + ClickHouse: accepted events reach ClickHouse once, whatever happens between."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nself_billing import UsageEvent


@pytest.fixture
def backend() -> str:
    return "clickhouse"


def test_recorded_events_are_shipped_and_leave_the_outbox(billing, customer_id):
    billing.usage.record("api", 1, idempotency_key="a1")
    billing.usage.record("storage", "2.500001", idempotency_key="s1")
    billing.usage.record_many([UsageEvent("api", 1, idempotency_key=f"b{i}") for i in range(50)])
    assert billing.events.status().pending == 52

    result = billing.events.ship(batch_size=20)

    assert (result.events, result.batches) == (52, 3)
    assert billing.events.status().pending == 0
    totals = billing.events.clickhouse.day_totals([customer_id])
    day = datetime(2026, 1, 15, tzinfo=UTC).date()
    assert totals[(customer_id, "api", day)] == (51_000_000, 51)
    assert totals[(customer_id, "storage", day)] == (2_500_001, 1)
    assert billing.events.reconcile().consistent
