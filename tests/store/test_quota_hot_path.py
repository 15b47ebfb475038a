"""The quota hot path on PostgreSQL: its own connections run prepared statements through libpq,
one round trip per ``enforce`` and per ``consume`` (durable included), and a connection whose
statement failed is closed and replaced. Also: migration 0006 (the consume procedure) goes down
to 0004's function and up again."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text

from nself_billing.errors import DatabaseError
from nself_billing.store import events as store

from ..support.migrations import migrate_to


@pytest.fixture
def pg_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("PostgreSQL's hot path")


def _round_trips(billing, call) -> int:
    """Run ``call`` with libpq tracing the hot-path connection; count the Sync messages it
    sent (each one is a round trip: the client waits for ReadyForQuery)."""
    from psycopg import pq

    (driver,) = billing.quotas._reader._idle
    with tempfile.TemporaryFile("w+") as trace:
        driver.pgconn.trace(trace.fileno())
        driver.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            call()
        finally:
            driver.pgconn.untrace()
        trace.seek(0)
        lines = trace.read().splitlines()
    return sum(1 for line in lines if line.startswith("F") and line.endswith("Sync"))


def test_enforce_and_a_durable_consume_are_one_round_trip_each(pg_only, billing, customer_id):
    billing.quotas.set_override("api", 1000, mode="hard")
    billing.quotas.enforce("api")  # each statement is prepared once per connection, on first use
    billing.quotas.consume("api")
    assert billing.quotas.durable_consume is True
    assert _round_trips(billing, lambda: billing.quotas.enforce("api")) == 1
    assert _round_trips(billing, lambda: billing.quotas.consume("api")) == 1
    assert _round_trips(billing, lambda: billing.quotas.consume("api", idempotency_key="k-1")) == 1
    assert billing.quotas.status("api").usage == 3


def test_a_failed_statement_closes_its_connection_and_the_next_call_opens_another(
    pg_only, billing, customer_id
):
    reader = billing.quotas._reader
    assert billing.quotas.enforce("api").allowed
    (driver,) = reader._idle
    moment = datetime(2026, 1, 15, 12, tzinfo=UTC)
    with pytest.raises(DatabaseError, match="foreign key"):
        store.pg_consume(
            reader,
            customer_id="cus_nobody",
            service="api",
            quantity=Decimal(1),
            micros=1_000_000,
            metadata={},
            recorded_at=moment,
            key="k-nobody",
            now=moment,
            first_day=date(2026, 1, 15),
            end_day=date(2026, 2, 15),
            limit_micros=10**9,
            hard=True,
            durable=True,
        )
    assert driver.conn.closed
    assert not reader._idle
    assert billing.quotas.consume("api").recorded
    assert billing.quotas.status("api").usage == 1
    assert reader._idle[0] is not driver


def test_a_forked_child_opens_its_own_hot_path_connection(pg_only, billing, customer_id):
    assert billing.quotas.enforce("api").allowed
    (parent,) = billing.quotas._reader._idle
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its consume must not use the parent's socket
        try:
            result = billing.quotas.consume("api")
            fresh = all(d is not parent for d in billing.quotas._reader._idle)
            os.write(write, b"ok" if result.recorded and fresh else b"bad")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 2) == b"ok"
    assert billing.quotas.enforce("api").usage == 1  # the parent's connection still works


def _routine_kind(billing) -> str | None:
    with billing.context.db.read() as conn:
        return conn.execute(
            text(
                "SELECT string_agg(prokind::text, ',') FROM pg_proc"
                " WHERE proname = 'billing_quota_consume'"
            )
        ).scalar_one()


def test_the_consume_procedure_migration_goes_down_and_up_again(pg_only, billing, customer_id):
    assert _routine_kind(billing) == "p"
    migrate_to(billing.context.db, "0004", down=True)
    assert _routine_kind(billing) == "f"
    migrate_to(billing.context.db, "head")
    assert _routine_kind(billing) == "p"
    billing.quotas.set_override("api", 1, mode="hard")
    assert [billing.quotas.consume("api").admitted for _ in range(2)] == [True, False]
