"""PostgreSQL alone against PostgreSQL + ClickHouse, on the same events (issue 19).

Both configurations accept the same events through the library's batch path
(``Billing.usage.record_many``, 10,000 per transaction). With ClickHouse, ``usage ship`` runs
meanwhile in its own process (as ``serve`` or a separate shipper would), and the figure is the
sustained accept-and-ship rate: events over the time until the last one is in ClickHouse. The
shipper's lag (age of the oldest event waiting) is sampled during the load. Then, on the loaded
data: the raw export of the biggest customer (``export usage --raw --format=csv`` as a user runs
it), an all-customer month and the biggest customer's detailed month read from the raw events
(PostgreSQL's table, ClickHouse with ``FINAL``) and from the per-day rollups (what reports,
quotas and the cycle read), and storage bytes per event.

ClickHouse here is the embedded engine (chDB) in a temporary directory, through the same
client and SQL as a server; a server on its own machine has more cores to itself.
"""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scratch import bench_env, scratch_pg_database, settle

_NSELF = [sys.executable, "-m", "nself_billing", "tenant", "billing"]
CUSTOMERS = 100
BIG = "cus_big"
BATCH = 10_000
START = datetime(2026, 2, 1, tzinfo=UTC)
META = {"endpoint": "/api/users", "method": "GET", "status": 200}


def _customer_of(i: int) -> str:
    # a fifth of the events belong to the biggest customer, the rest spread over the others
    return BIG if i % 5 == 0 else f"cus_{i % (CUSTOMERS - 1):03d}"


def _events(first: int, count: int, span_seconds: int) -> list[dict]:
    services = ("api", "api", "api", "database", "functions", "bandwidth")
    return [
        {
            "customer_id": _customer_of(i),
            "service": services[i % len(services)],
            "quantity": "1" if i % 6 != 5 else "0.000512",
            "metadata": META,
            "id": f"ev{i:012d}",
            "timestamp": (START + timedelta(seconds=(i * 7919) % span_seconds)).isoformat(),
        }
        for i in range(first, first + count)
    ]


def _median(call: Callable[[], object], times: int = 3) -> float:
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def _setup_customers(env: dict[str, str]) -> None:
    from nself_billing import Billing

    with Billing.from_env(env) as billing:
        for n in range(CUSTOMERS - 1):
            billing.customers.create(
                email=f"c{n}@example.com", name=f"C{n}", customer_id=f"cus_{n:03d}"
            )
        billing.customers.create(email="big@example.com", name="Big", customer_id=BIG)
        billing.subscriptions.start(BIG, "enterprise")


def _accept(env: dict[str, str], n: int, *, first: int = 0) -> float:
    """Accept events ``first`` .. ``first + n`` through the library's batch path; seconds."""
    from nself_billing import Billing

    span = 27 * 86_400
    with Billing.from_env(env, customer_id=BIG) as billing:
        started = time.perf_counter()
        for start in range(first, first + n, BATCH):
            billing.usage.record_many(_events(start, min(BATCH, first + n - start), span))
        return time.perf_counter() - started


def _pg_outbox(url: str) -> tuple[int, float]:
    import psycopg

    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        count, age = conn.execute(
            "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)"
            " FROM billing_event_outbox"
        ).fetchone()
        return int(count), float(age)


def _pg_scalar(url: str, sql: str, params: tuple = ()) -> object:
    import psycopg

    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def _export(env: dict[str, str], out: Path) -> float:
    command = [sys.executable, "-m", "nself_billing", "tenant", "billing", "--customer", BIG]
    command += ["export", "usage", "--raw", "--format=csv", f"--output={out}", "--force"]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


_PG_MONTH = (
    "SELECT customer_id, service_name, sum(quantity_micros), count(*) FROM billing_usage_records"
    " WHERE recorded_at >= %s AND recorded_at < %s GROUP BY 1, 2"
)
_PG_BIG_DAYS = (
    "SELECT service_name, (recorded_at AT TIME ZONE 'UTC')::date, sum(quantity_micros), count(*)"
    " FROM billing_usage_records WHERE customer_id = %s AND recorded_at >= %s"
    " AND recorded_at < %s GROUP BY 1, 2"
)
_ROLLUP_MONTH = (
    "SELECT customer_id, service_name, sum(quantity_micros), sum(events) FROM billing_usage_daily"
    " WHERE day >= %s AND day < %s GROUP BY 1, 2"
)
_ROLLUP_BIG_DAYS = (
    "SELECT service_name, day, quantity_micros, events FROM billing_usage_daily"
    " WHERE customer_id = %s AND day >= %s AND day < %s"
)


def _reads_pg(url: str, prefix: str) -> list[dict]:
    end = START + timedelta(days=28)
    month = _median(lambda: _pg_scalar(url, _PG_MONTH, (START, end)))
    big = _median(lambda: _pg_scalar(url, _PG_BIG_DAYS, (BIG, START, end)))
    rollup_month = _median(lambda: _pg_scalar(url, _ROLLUP_MONTH, (START.date(), end.date())))
    rollup_big = _median(lambda: _pg_scalar(url, _ROLLUP_BIG_DAYS, (BIG, START.date(), end.date())))
    return [
        _row(f"all-customer month from raw events ({prefix})", month * 1000, "ms"),
        _row(f"biggest customer's month per day from raw events ({prefix})", big * 1000, "ms"),
        _row("all-customer month from the per-day rollups (PostgreSQL)", rollup_month * 1000, "ms"),
        _row(
            "biggest customer's month per day from the rollups (PostgreSQL)",
            rollup_big * 1000,
            "ms",
        ),
    ]


def _row(name: str, value: float, unit: str, target: str = "", notes: str = "") -> dict:
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "target": target,
        "baseline": None,
        "notes": notes,
    }


def _pg_bytes(url: str) -> int:
    [(size,)] = _pg_scalar(url, "SELECT pg_total_relation_size('billing_usage_records')")
    return int(size)


def _postgresql_alone(pg_admin: str, n: int) -> tuple[list[dict], float]:
    with scratch_pg_database(pg_admin) as url, tempfile.TemporaryDirectory() as root:
        env = bench_env(root, url)
        _setup_customers(env)
        settle(pg_admin)
        seconds = _accept(env, n)
        rows = [
            _row(
                f"accept {n:,} events (PostgreSQL alone)",
                n / seconds,
                "events/s",
                notes="record_many, 10,000 per transaction",
            )
        ]
        big_events = n // 5
        export = _export(env, Path(root) / "big.csv")
        rows.append(
            _row(
                f"export usage --raw as a command, biggest customer ({big_events:,} rows,"
                " PostgreSQL alone)",
                big_events / export,
                "rows/s",
                notes=f"{export:.2f} s wall, start-up included",
            )
        )
        warm = _export_in_process(env, Path(root) / "big-warm.csv")
        rows.append(
            _row(
                f"export usage --raw in process, biggest customer ({big_events:,} rows,"
                " PostgreSQL alone)",
                big_events / warm,
                "rows/s",
                notes=f"{warm:.3f} s, engines warm",
            )
        )
        rows += _reads_pg(url, "PostgreSQL")
        rows.append(
            _row("storage per event (PostgreSQL, table + indexes)", _pg_bytes(url) / n, "bytes")
        )
        return rows, seconds


def _export_in_process(env: dict[str, str], out: Path) -> float:
    """The export itself, in this process with the engines warm (start-up excluded)."""
    from nself_billing import Billing

    with Billing.from_env(env, customer_id=BIG) as billing:
        return _median(
            lambda: billing.export.export(
                "usage", output_format="csv", output=out, raw=True, force=True
            )
        )


def _wait_shipped(url: str, shipper: subprocess.Popen) -> None:
    while _pg_outbox(url)[0]:
        if shipper.poll() is not None:
            raise RuntimeError("the shipper died")
        time.sleep(0.05)


def _with_clickhouse(pg_admin: str, n: int) -> list[dict]:
    """The same n events as PostgreSQL alone: the first half accepted with the shipper stopped
    (the capture trigger's cost, then the rate of shipping a backlog), the second half with the
    shipper running (the sustained rate and the lag)."""
    half = n // 2
    with scratch_pg_database(pg_admin) as url, tempfile.TemporaryDirectory() as root:
        ch_url = f"chdb://{Path(root) / 'chdb'}?database=billing"
        env = bench_env(root, url, BILLING_CLICKHOUSE_URL=ch_url)
        _setup_customers(env)
        subprocess.run([*_NSELF, "migrate"], env=env, check=True, capture_output=True)
        settle(pg_admin)
        accepted_alone = _accept(env, half)
        shipper = subprocess.Popen(
            [*_NSELF, "usage", "ship", "--interval=0.2"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        lags: list[float] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.5):
                lags.append(_pg_outbox(url)[1])

        try:
            assert shipper.stdout is not None
            shipper.stdout.readline()  # "Shipping usage events ...": started
            started = time.perf_counter()
            _wait_shipped(url, shipper)
            backlog = time.perf_counter() - started
            settle(pg_admin)
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            started = time.perf_counter()
            accepted = _accept(env, n - half, first=half)
            _wait_shipped(url, shipper)
            sustained = time.perf_counter() - started
        finally:
            stop.set()
            shipper.send_signal(signal.SIGTERM)
            shipper.wait(timeout=120)
        rows = [
            _row(
                f"accept {half:,} events, capture trigger on, shipper stopped",
                half / accepted_alone,
                "events/s",
                notes="record_many, 10,000 per transaction (compare: PostgreSQL alone)",
            ),
            _row(
                f"ship a backlog of {half:,} events (shipper alone)",
                half / backlog,
                "events/s",
                notes="batches of 10,000; PostgreSQL COPY -> CSV -> one ClickHouse block",
            ),
            _row(
                f"accept {n - half:,} events with the shipper running",
                (n - half) / accepted,
                "events/s",
            ),
            _row(
                f"sustained accept-and-ship, {n - half:,} events",
                (n - half) / sustained,
                "events/s",
                "≥ 50,000 events/s",
                f"until the last event is in ClickHouse: {sustained:.1f} s",
            ),
            _row(
                "shipper lag during that load (max of 0.5 s samples)",
                max(lags, default=0.0),
                "s",
                notes=f"{len(lags)} samples",
            ),
        ]
        big_events = n // 5
        export = _export(env, Path(root) / "big.csv")
        rows.append(
            _row(
                f"export usage --raw as a command, biggest customer ({big_events:,} rows,"
                " ClickHouse)",
                big_events / export,
                "rows/s",
                notes=f"{export:.2f} s wall, start-up included",
            )
        )
        warm = _export_in_process(env, Path(root) / "big-warm.csv")
        rows.append(
            _row(
                f"export usage --raw in process, biggest customer ({big_events:,} rows,"
                " ClickHouse)",
                big_events / warm,
                "rows/s",
                "≥ 1,000,000 rows/s",
                f"{warm:.3f} s, engines warm",
            )
        )
        rows += _reads_clickhouse(ch_url, n)
        return rows


def _reads_clickhouse(ch_url: str, n: int) -> list[dict]:
    from nself_billing.store.clickhouse import ClickHouseEvents

    store = ClickHouseEvents(ch_url)
    try:
        end = START + timedelta(days=28)
        params = {"start": START, "end": end, "big": BIG}
        month_sql = (
            "SELECT customer_id, service_name, sum(quantity), count()"
            f" FROM {store.table} FINAL WHERE recorded_at >= {{start:DateTime64(6, 'UTC')}}"
            " AND recorded_at < {end:DateTime64(6, 'UTC')} GROUP BY customer_id, service_name"
        )
        big_sql = (
            "SELECT service_name, toDate(recorded_at) AS day, sum(quantity), count()"
            f" FROM {store.table} FINAL WHERE customer_id = {{big:String}}"
            " AND recorded_at >= {start:DateTime64(6, 'UTC')}"
            " AND recorded_at < {end:DateTime64(6, 'UTC')} GROUP BY service_name, day"
        )
        month = _median(lambda: store._run("query", month_sql, parameters=params))
        big = _median(lambda: store._run("query", big_sql, parameters=params))
        store._run("command", f"OPTIMIZE TABLE {store.table} FINAL")
        rows_stored, size = store.storage()
        return [
            _row("all-customer month from raw events (ClickHouse, FINAL)", month * 1000, "ms"),
            _row(
                "biggest customer's month per day from raw events (ClickHouse, FINAL)",
                big * 1000,
                "ms",
            ),
            _row(
                "storage per event (ClickHouse, after OPTIMIZE FINAL)",
                size / max(rows_stored, 1),
                "bytes",
                notes=f"{rows_stored:,} rows, {size / 1e6:.1f} MB",
            ),
        ]
    finally:
        store.close()


def run(*, smoke: bool, pg_url: str | None) -> list[dict]:
    if not pg_url:
        return []
    try:
        import chdb  # noqa: F401
        import clickhouse_connect  # noqa: F401
    except ImportError:
        print("bench_clickhouse: chdb/clickhouse-connect not installed; skipped", file=sys.stderr)
        return []
    n = 20_000 if smoke else 10_000_000
    rows, _ = _postgresql_alone(pg_url, n)
    rows += _with_clickhouse(pg_url, n)
    return rows


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--n", type=int, help="events (overrides the smoke/full size)")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    size = args.n or (20_000 if args.smoke else 10_000_000)
    figures, _ = _postgresql_alone(args.pg, size)
    figures += _with_clickhouse(args.pg, size)
    print(json.dumps(figures, indent=1, default=str))
