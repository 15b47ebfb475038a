"""A period close killed halfway (SIGKILL) resumes cleanly: every period is invoiced once."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from nself_billing.store.tables import customers, subscriptions

N = 300
CHILD = textwrap.dedent("""
    from datetime import UTC, datetime
    from nself_billing import Billing
    now = datetime(2026, 2, 15, 1, tzinfo=UTC)
    with Billing.from_env(clock=lambda: now) as billing:
        billing.cycle.run(batch_size=5)
""")


def count(billing, sql):
    return int(billing.queries.render(sql))


@pytest.mark.slow
def test_a_killed_cycle_resumes_and_never_bills_twice(billing, env, clock):
    start, end = datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 2, 15, tzinfo=UTC)
    with billing.context.db.write() as conn:
        conn.execute(
            insert(customers), [{"customer_id": f"cus_k{i:04d}", "name": f"K{i}"} for i in range(N)]
        )
        conn.execute(
            insert(subscriptions),
            [
                {
                    "subscription_id": f"sub_k{i:04d}",
                    "customer_id": f"cus_k{i:04d}",
                    "plan_name": "starter",
                    "status": "active",
                    "current_period_start": start,
                    "current_period_end": end,
                    "anchor_at": start,
                }
                for i in range(N)
            ],
        )
    child = subprocess.Popen([sys.executable, "-c", CHILD], env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while count(billing, "SELECT COUNT(*) FROM billing_invoices") == 0:
        assert time.monotonic() < deadline and child.poll() is None
        time.sleep(0.005)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    partial = count(billing, "SELECT COUNT(*) FROM billing_invoices")
    assert 0 < partial
    advanced = count(
        billing,
        "SELECT COUNT(*) FROM billing_subscriptions WHERE current_period_start > '2026-01-20'",
    )
    assert advanced == partial  # invoices and period moves commit together
    clock.now = datetime(2026, 2, 15, 2, tzinfo=UTC)
    billing.cycle.run()
    billing.cycle.run()
    assert count(billing, "SELECT COUNT(*) FROM billing_invoices") == N
    assert count(billing, "SELECT COUNT(DISTINCT subscription_id) FROM billing_invoices") == N
    with billing.context.db.read() as conn:
        ends = conn.execute(select(subscriptions.c.current_period_end)).scalars().all()
    assert set(ends) == {datetime(2026, 3, 15, tzinfo=UTC)}


@pytest.mark.slow
def test_concurrent_cycles_share_the_work_and_bill_each_period_once(billing, env):
    start, end = datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 2, 15, tzinfo=UTC)
    with billing.context.db.write() as conn:
        conn.execute(
            insert(customers), [{"customer_id": f"cus_c{i:04d}", "name": f"C{i}"} for i in range(N)]
        )
        conn.execute(
            insert(subscriptions),
            [
                {
                    "subscription_id": f"sub_c{i:04d}",
                    "customer_id": f"cus_c{i:04d}",
                    "plan_name": "pro",
                    "status": "active",
                    "current_period_start": start,
                    "current_period_end": end,
                    "anchor_at": start,
                }
                for i in range(N)
            ],
        )
    children = [subprocess.Popen([sys.executable, "-c", CHILD], env=env) for _ in range(3)]
    assert [child.wait(timeout=120) for child in children] == [0, 0, 0]
    assert count(billing, "SELECT COUNT(*) FROM billing_invoices") == N
    assert count(billing, "SELECT COUNT(DISTINCT subscription_id) FROM billing_invoices") == N
