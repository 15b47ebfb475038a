"""Period close: ``cycle`` for N customers, each with a month of usage.

Set-up (not measured) creates N customers and subscriptions anchored on days 1-28 of January
2026 on the starter, pro and free plans in turn, and a month of per-day usage rollups for every
service (what recording would have produced; the cycle reads only the rollups). The pro and
starter customers pass their api limit, so most invoices carry overage lines. The tables
are ANALYZEd after the bulk load (as autovacuum would). Then
``Billing.cycle.run()`` closes every period at 2026-02-28 12:00 UTC (one per subscription), and
runs again to show that a second run finds nothing to do.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, date, datetime, timedelta

from scratch import bench_env, scratch_pg_database

NOW = datetime(2026, 2, 28, 12, tzinfo=UTC)
PLANS = ("starter", "pro", "free")
#: per-day quantity (micro-units) per service: a month passes the api limit of starter and pro
DAILY = {
    "api": 40_000,
    "storage": 2,
    "bandwidth": 1,
    "compute": 1,
    "database": 10_000,
    "functions": 100,
}


def _fixtures(n: int):
    from nself_billing.domain.periods import add_months

    customers, subscriptions, usage = [], [], []
    for i in range(n):
        customer = f"cus_bench{i:08d}"
        anchor = datetime(2026, 1, 1 + i % 28, tzinfo=UTC)
        plan = PLANS[i % 3]
        customers.append(
            {
                "customer_id": customer,
                "email": f"c{i}@bench.test",
                "name": f"Bench {i}",
                "created_at": anchor,
                "updated_at": anchor,
            }
        )
        subscriptions.append(
            {
                "subscription_id": f"sub_bench{i:08d}",
                "customer_id": customer,
                "plan_name": plan,
                "period_plan_name": plan,
                "status": "active",
                "current_period_start": anchor,
                "current_period_end": add_months(anchor, 1),
                "anchor_at": anchor,
                "cancel_at_period_end": False,
                "billing_interval": "month",
                "created_at": anchor,
                "updated_at": anchor,
            }
        )
        first: date = anchor.date()
        for day in range(30):
            for service, quantity in DAILY.items():
                usage.append(
                    (customer, service, first + timedelta(days=day), quantity * 1_000_000, 1)
                )
    return customers, subscriptions, usage


def _load(billing, n: int, pg_url: str | None) -> None:
    from sqlalchemy import insert

    from nself_billing.store.tables import customers, subscriptions, usage_daily

    rows_c, rows_s, rows_u = _fixtures(n)
    with billing.context.db.write() as conn:
        conn.execute(insert(customers), rows_c)
        conn.execute(insert(subscriptions), rows_s)
        if pg_url is None:
            conn.execute(
                insert(usage_daily),
                [
                    {
                        "customer_id": c,
                        "service_name": s,
                        "day": d,
                        "quantity_micros": q,
                        "events": e,
                    }
                    for c, s, d, q, e in rows_u
                ],
            )
    if pg_url is not None:
        import psycopg

        with psycopg.connect(pg_url.replace("+psycopg", "")) as conn, conn.cursor() as cursor:
            with cursor.copy(
                "COPY billing_usage_daily (customer_id, service_name, day,"
                " quantity_micros, events) FROM STDIN"
            ) as copy:
                for row in rows_u:
                    copy.write_row(row)
            # the planner statistics autovacuum would gather after such a load
            cursor.execute("ANALYZE")


def _measure(backend: str, n: int, env: dict[str, str], pg_url: str | None) -> list[dict]:
    from nself_billing import Billing

    with Billing.from_env(env, clock=lambda: NOW) as billing:
        _load(billing, n, pg_url)
        started = time.perf_counter()
        result = billing.cycle.run()
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        again = billing.cycle.run()
        second = time.perf_counter() - started
    assert result.closed == n and not result.failures, (result.closed, result.failures[:3])
    assert again.closed == 0
    return [
        {
            "name": f"`cycle` for {n:,} customers with a month of usage ({backend})",
            "value": seconds,
            "unit": "s",
            "target": "< 60 s (10,000 on PostgreSQL)",
            "baseline": None,
            "notes": f"{n / seconds:,.0f} periods/s; {len(result.invoice_ids):,} invoices, "
            f"total ${result.total:,}; a second run: {second * 1000:.0f} ms, closes 0",
        },
    ]


def run(*, smoke: bool, pg_url: str | None) -> list[dict]:
    n = 50 if smoke else 10_000
    rows = []
    with tempfile.TemporaryDirectory() as root:
        rows += _measure("SQLite", n, bench_env(root, None), None)
    if pg_url:
        with scratch_pg_database(pg_url) as url, tempfile.TemporaryDirectory() as root:
            rows += _measure("PostgreSQL", n, bench_env(root, url), url)
    return rows


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    print(json.dumps(run(smoke=args.smoke, pg_url=args.pg or None), indent=2, default=str))
