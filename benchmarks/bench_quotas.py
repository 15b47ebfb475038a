"""Quota enforcement: ``quota_enforce`` latency in-process with a large usage table, the
optional usage cache, and ``quota_consume`` with 8 processes racing at a hard limit.

Set-up (not measured): a customer table of 1,000 tenants and N usage events (10M full, 20K
smoke) loaded with the raw driver (SQLite ``executemany``, PostgreSQL ``COPY``) into
``billing_usage_records`` plus the matching per-day rollups; the hottest customer holds 10% of
the events. On PostgreSQL the load is then vacuumed and checkpointed, so the measurements do not
run beside autovacuum's first pass over it and the writeback of its pages. The clock is fixed in
the middle of the hot customer's period.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from scratch import bench_env, scratch_pg_database

HOT = "cus_hot"
RACE = "cus_race"
RACE_ASYNC = "cus_race_async"
TENANTS = 1000
SERVICES = ("api", "storage", "bandwidth", "compute", "database", "functions")
START = datetime(2026, 3, 1, tzinfo=UTC)
NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _tenant(i: int) -> str:
    return HOT if i % 10 == 0 else f"cus_{i % TENANTS:04d}"


def _events(n: int, rollups: dict[tuple[str, str, str], list[int]]) -> Iterator[tuple]:
    for i in range(n):
        customer = _tenant(i)
        service = SERVICES[(i // 10) % 6]
        day = f"2026-03-{1 + (i // 7) % 28:02d}"
        slot = rollups.get((customer, service, day))
        if slot is None:
            rollups[(customer, service, day)] = [1_000_000, 1]
        else:
            slot[0] += 1_000_000
            slot[1] += 1
        yield (customer, service, "1", 1_000_000, f"{day} 12:00:00.000000", f"b{i}")


def _customers() -> list[tuple[str, str]]:
    return [(f"cus_{i:04d}", f"t{i}@example.com") for i in range(TENANTS)]


def _load_sqlite(path: str, n: int) -> None:
    import sqlite3

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    db.execute("BEGIN")
    db.executemany("INSERT INTO billing_customers (customer_id, email) VALUES (?, ?)", _customers())
    rollups: dict[tuple[str, str, str], list[int]] = {}
    db.executemany(
        "INSERT INTO billing_usage_records (customer_id, service_name, quantity,"
        " quantity_micros, recorded_at, idempotency_key) VALUES (?, ?, ?, ?, ?, ?)",
        _events(n, rollups),
    )
    db.executemany(
        "INSERT INTO billing_usage_daily (customer_id, service_name, day,"
        " quantity_micros, events) VALUES (?, ?, ?, ?, ?)",
        [(*key, *value) for key, value in rollups.items()],
    )
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.close()


def _load_pg(url: str, n: int) -> None:
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as conn, conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO billing_customers (customer_id, email) VALUES (%s, %s)", _customers()
        )
        rollups: dict[tuple[str, str, str], list[int]] = {}
        with cursor.copy(
            "COPY billing_usage_records (customer_id, service_name, quantity,"
            " quantity_micros, recorded_at, idempotency_key) FROM STDIN"
        ) as copy:
            for row in _events(n, rollups):
                copy.write_row(row)
        with cursor.copy(
            "COPY billing_usage_daily (customer_id, service_name, day,"
            " quantity_micros, events) FROM STDIN"
        ) as copy:
            for key, value in rollups.items():
                copy.write_row((*key, *value))
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE billing_usage_daily")
        # let the bulk load settle before measuring, as a table that grew over months would be:
        # otherwise autovacuum's first pass over the 10M fresh rows and the writeback of ~2 GB of
        # dirty pages run during the measurements (tail latencies and WAL flushes of seconds)
        conn.execute("VACUUM ANALYZE billing_usage_records")
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            pass  # not a superuser: the next timed checkpoint will do it


def _latencies(call: Callable[[], Any], samples: int) -> tuple[float, float]:
    for _ in range(min(500, samples)):
        call()
    timings = []
    clock = time.perf_counter_ns
    for _ in range(samples):
        started = clock()
        call()
        timings.append((clock() - started) / 1000)
    return statistics.median(timings), statistics.quantiles(timings, n=100)[98]


def _consume_worker(
    env: dict[str, str], customer: str, durable: bool, barrier: Any, out: Any
) -> None:
    from nself_billing import Billing

    with Billing.from_env(env, customer_id=customer, clock=_Clock(NOW), migrate=False) as billing:
        quotas = billing.quotas
        quotas.durable_consume = durable
        quotas.limits()
        barrier.wait()
        started = time.perf_counter()
        admitted, last = 0, started
        while quotas.consume("api", 1).admitted:
            admitted += 1
            last = time.perf_counter()
        out.put((admitted, started, last))


def _race(
    env: dict[str, str], processes: int, customer: str = RACE, durable: bool = True
) -> tuple[int, float]:
    """Total admitted and the admitted calls per second until the limit was reached."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(processes)
    out = context.Queue()
    workers = [
        context.Process(target=_consume_worker, args=(env, customer, durable, barrier, out))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join()
    admitted = sum(r[0] for r in results)
    elapsed = max(r[2] for r in results) - min(r[1] for r in results)
    return admitted, admitted / elapsed


def _bench_backend(
    backend: str, env: dict[str, str], load: Callable[[], None], n: int, *, smoke: bool
) -> list[dict]:
    from sqlalchemy import func, select

    from nself_billing import Billing, quota_enforce
    from nself_billing.api import use_billing
    from nself_billing.store.tables import usage_daily, usage_records

    clock = _Clock(START)
    prefix = "sqlite" if backend == "SQLite" else "pg"
    samples = 2000 if smoke else 20000
    limit = 300 if smoke else 20000
    rows: list[dict] = []
    billing = Billing.from_env(env, clock=clock)
    try:
        billing.customers.create(email="hot@example.com", name="Hot", customer_id=HOT)
        billing.customers.create(email="race@example.com", name="Race", customer_id=RACE)
        load()
        billing.subscriptions.start(HOT, "pro")
        billing.subscriptions.start(RACE, "pro")
        clock.now = NOW
        billing.quotas.set_override("api", 10**12, mode="hard", customer_id=HOT)
        billing.quotas.set_override("api", limit, mode="hard", customer_id=RACE)
        use_billing(billing)
        hot_usage = billing.quotas.status("api", customer_id=HOT).usage
        p50, p99 = _latencies(lambda: quota_enforce("api", 1), samples)
        note = (
            f"{n:,} events in the table, hottest customer ({hot_usage:,.0f} api units), "
            "hard limit not reached: one indexed rollup read"
            + (", one prepared statement, one round trip" if backend == "PostgreSQL" else "")
        )
        rows += [
            {
                "name": f"quota_enforce p50 ({backend})",
                "value": p50,
                "unit": "µs",
                "target": None,
                "baseline": f"{prefix}_rollup_read_p50_us",
                "notes": note,
            },
            {
                "name": f"quota_enforce p99 ({backend})",
                "value": p99,
                "unit": "µs",
                "target": "≤ 50 µs" if backend == "SQLite" else "≤ 300 µs",
                "baseline": f"{prefix}_rollup_read_p99_us",
                "notes": note,
            },
        ]
        billing.quotas.set_override("api", 10**12, mode="soft", customer_id=HOT)
        billing.quotas.usage_cache_seconds = 0.1
        p50, p99 = _latencies(lambda: quota_enforce("api", 1), samples)
        billing.quotas.usage_cache_seconds = 0.0
        rows.append(
            {
                "name": f"quota_enforce p99, usage cache 100 ms ({backend})",
                "value": p99,
                "unit": "µs",
                "target": "≤ 10 µs",
                "baseline": None,
                "notes": f"p50 {p50:.1f} µs; soft limit (a hard limit reads fresh usage "
                "before every admit)",
            }
        )
        use_billing(None)
        races = [(RACE, True, "")]
        if backend == "PostgreSQL":
            billing.customers.create(
                email="race2@example.com", name="Race 2", customer_id=RACE_ASYNC
            )
            billing.subscriptions.start(RACE_ASYNC, "pro")
            billing.quotas.set_override("api", limit, mode="hard", customer_id=RACE_ASYNC)
            races.append((RACE_ASYNC, False, ", durable_consume=False"))
        for customer, durable, label in races:
            admitted, rate = _race(env | {"NSELF_CUSTOMER_ID": customer}, 8, customer, durable)
            with billing.context.db.read() as conn:
                recorded = conn.execute(
                    select(func.count())
                    .select_from(usage_records)
                    .where(usage_records.c.customer_id == customer)
                ).scalar_one()
                rolled = conn.execute(
                    select(func.sum(usage_daily.c.quantity_micros)).where(
                        usage_daily.c.customer_id == customer
                    )
                ).scalar_one()
            over = max(admitted, recorded) - limit
            consistent = recorded == admitted and rolled == admitted * 1_000_000
            how = (
                "one CALL per consume, each admit waits for the WAL flush (group commit)"
                if durable and backend == "PostgreSQL"
                else "one CALL per consume, commit without waiting for the flush"
                if backend == "PostgreSQL"
                else "BEGIN IMMEDIATE, WAL, synchronous=NORMAL"
            )
            rows += [
                {
                    "name": f"quota_consume admitted calls/s, 8 processes at a hard limit "
                    f"({backend}{label})",
                    "value": rate,
                    "unit": "calls/s",
                    "target": "≥ 2,000 calls/s" if backend == "PostgreSQL" else None,
                    "baseline": f"{prefix}_single_event_per_s",
                    "notes": f"{how}; limit {limit:,}: {admitted:,} admitted, {recorded:,} events "
                    f"recorded, rollups {'equal' if consistent else 'DIFFER'}",
                },
                {
                    "name": f"quota_consume over-admission, 8 processes ({backend}{label})",
                    "value": over,
                    "unit": "calls",
                    "target": "0",
                    "baseline": None,
                    "notes": "admitted or recorded beyond the hard limit",
                },
            ]
    finally:
        use_billing(None)
        billing.close()
    return rows


def _env(root: str, db_url: str | None) -> dict[str, str]:
    return bench_env(root, db_url, NSELF_CUSTOMER_ID=HOT)


def run(*, smoke: bool, pg_url: str | None) -> list[dict]:
    n = 20_000 if smoke else 10_000_000
    rows = []
    with tempfile.TemporaryDirectory() as root:
        env = _env(root, None)
        path = os.path.join(root, ".nself", "billing", "billing.db")
        rows += _bench_backend("SQLite", env, lambda: _load_sqlite(path, n), n, smoke=smoke)
    if pg_url:
        with (
            scratch_pg_database(pg_url, "nself_bench_quotas") as url,
            tempfile.TemporaryDirectory() as root,
        ):
            rows += _bench_backend(
                "PostgreSQL", _env(root, url), lambda: _load_pg(url, n), n, smoke=smoke
            )
    return rows


if __name__ == "__main__":
    import json
    import sys

    print(
        json.dumps(
            run(
                smoke="--smoke" in sys.argv,
                pg_url=None
                if "--no-pg" in sys.argv
                else "postgresql://postgres@127.0.0.1:5432/test",
            ),
            indent=1,
            default=str,
        )
    )
