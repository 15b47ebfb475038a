"""Several processes recording at once, and a crash mid-batch (both backends)."""

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from nself_billing import Billing, UsageEvent

CUSTOMER = "cus_concurrent"


def _recorder_process(env, worker):
    """Keys overlap between workers; half recorded one by one, half in batches of 50."""
    keys = [f"k{n}" for n in range(worker * 100, worker * 100 + 400)]
    with Billing.from_env(env, customer_id=CUSTOMER) as billing:
        for key in keys[:200]:
            billing.usage.record("compute", "0.000123", idempotency_key=key)
        for i in range(200, 400, 50):
            billing.usage.record_many(
                [UsageEvent("compute", "0.000123", idempotency_key=key) for key in keys[i : i + 50]]
            )


@pytest.mark.slow
def test_concurrent_processes_with_overlapping_keys_count_each_event_once(billing, env):
    billing.customers.create(email="c@example.com", name="C", customer_id=CUSTOMER)
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        pool.starmap(_recorder_process, [(env, w) for w in range(4)])
    distinct = 3 * 100 + 400
    assert billing.queries.render("SELECT COUNT(*) FROM billing_usage_records") == str(distinct)
    report = billing.usage.summary(
        customer_id=CUSTOMER, period="custom", start="2026-01-01", end="2026-12-31"
    )
    compute = next(r for r in report.services if r.service == "compute")
    assert (compute.quantity, compute.events) == (Decimal("0.000123") * distinct, distinct)


CRASH_SCRIPT = """
import sys
from nself_billing import Billing, UsageEvent
billing = Billing.from_env(customer_id="cus_concurrent")
events = [UsageEvent("api", 1, idempotency_key=f"crash{i}") for i in range(int(sys.argv[1]))]
print("go", flush=True)
billing.usage.record_many(events)
print("done", flush=True)
"""


def _wait_until_writing(billing, timeout=60.0):
    """Return once the child holds its write transaction (SQLite: the write lock is taken;
    PostgreSQL: its insert into the usage table is running)."""
    deadline = time.monotonic() + timeout
    if billing.context.db.is_sqlite:
        probe = sqlite3.connect(billing.settings.sqlite_path, timeout=0, isolation_level=None)
        try:
            while time.monotonic() < deadline:
                try:
                    probe.execute("BEGIN IMMEDIATE")
                    probe.execute("ROLLBACK")
                except sqlite3.OperationalError:
                    return
                time.sleep(0.002)
        finally:
            probe.close()
    else:
        import psycopg

        url = billing.context.db.url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as probe:
            while time.monotonic() < deadline:
                held = probe.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                    " WHERE c.relname = 'billing_usage_records' AND l.mode = 'RowExclusiveLock'"
                    " AND l.pid <> pg_backend_pid()"
                ).fetchone()[0]
                if held:
                    return
                time.sleep(0.002)
    raise AssertionError("the child never started writing")


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 0.2])
def test_a_batch_killed_mid_way_is_there_whole_or_not_at_all(billing, env, delay):
    billing.customers.create(email="c@example.com", name="C", customer_id=CUSTOMER)
    size = 150_000
    with subprocess.Popen(
        [sys.executable, "-c", CRASH_SCRIPT, str(size)], env=env, stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout.readline().strip() == "go"
        _wait_until_writing(billing)
        time.sleep(delay)
        assert child.poll() is None, "the batch finished before the kill"
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    # one statement, one snapshot: the killed connection's commit may still be landing
    stored, rolled = (
        int(value)
        for value in billing.queries.render(
            "SELECT (SELECT COUNT(*) FROM billing_usage_records),"
            " (SELECT COALESCE(SUM(events), 0) FROM billing_usage_daily)"
        ).split("|")
    )
    assert stored in (0, size)
    assert rolled == stored
    # the database is usable afterwards, and the batch can simply be sent again
    again = billing.usage.record_many(
        [
            UsageEvent("api", 1, idempotency_key=f"crash{i}", customer_id=CUSTOMER)
            for i in range(size)
        ]
    )
    assert again.accepted + again.duplicates == size
    assert billing.queries.render("SELECT COUNT(*) FROM billing_usage_records") == str(size)
