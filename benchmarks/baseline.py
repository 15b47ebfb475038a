"""The bare-driver reference of a benchmark run: what sqlite3 and psycopg do on this machine,
now, for the smallest version of our work (one usage event and its per-day rollup), so every
figure can be read as a ratio to the hardware measured in the same run.

    python benchmarks/baseline.py                                   # SQLite
    python benchmarks/baseline.py --pg "host=127.0.0.1 user=postgres dbname=test"

Prints one JSON object. The tables are minimal on purpose (no foreign key, one index besides
the key, integer micro-units): ``bench_metering`` measures the spec's schema with the bare
driver separately, so "ours / bare" is our code's cost and "bare / baseline" the schema's.
SQLite works in a temporary file (WAL, synchronous=NORMAL, as the store runs it); PostgreSQL in
a schema of its own, dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

CUSTOMERS = 100
DAY = "2026-11-01"
METADATA = '{"endpoint":"/api/users","method":"GET","status":200}'
READS = 2000

#: (customer, service, micro-units, metadata, time, key)
Event = tuple[str, str, int, str, str, str]


def make_events(count: int, prefix: str) -> list[Event]:
    return [
        (f"cus_{n % CUSTOMERS:03d}", "api", 1_000_000, METADATA, f"{DAY} 12:00:00", f"{prefix}{n}")
        for n in range(count)
    ]


def rollup_keys(batch: list[Event]) -> list[tuple[str, str, str, int]]:
    """The batch's rollup rows: (customer, service, day, micro-units), one per key."""
    totals: Counter[tuple[str, str, str]] = Counter()
    for customer, service, micros, _meta, at, _key in batch:
        totals[(customer, service, at[:10])] += micros
    return [(*key, micros) for key, micros in totals.items()]


def latencies_us(read: Callable[[int], Any]) -> dict[str, float]:
    samples = []
    for n in range(READS):
        started = time.perf_counter_ns()
        read(n)
        samples.append((time.perf_counter_ns() - started) / 1000)
    return {
        "p50": round(statistics.median(samples), 1),
        "p99": round(statistics.quantiles(samples, n=100)[98], 1),
    }


def per_second(count: int, started: float) -> int:
    return round(count / (time.perf_counter() - started))


def sqlite_reference(count: int) -> dict[str, float]:
    insert = (
        "INSERT INTO ev (customer_id, service_name, micros, metadata, recorded_at, idem)"
        " VALUES (?, ?, ?, ?, ?, ?)"
    )
    rollup = (
        "INSERT INTO roll VALUES (?, ?, ?, ?, 1) ON CONFLICT (customer_id, service_name, day)"
        " DO UPDATE SET micros = roll.micros + excluded.micros, n = roll.n + 1"
    )
    batch_rollup = (
        "INSERT INTO roll VALUES (?, ?, ?, ?, 0) ON CONFLICT (customer_id, service_name, day)"
        " DO UPDATE SET micros = roll.micros + excluded.micros"
    )
    with tempfile.TemporaryDirectory() as folder:
        db = sqlite3.connect(Path(folder) / "reference.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(
            "CREATE TABLE ev (id INTEGER PRIMARY KEY, customer_id TEXT, service_name TEXT,"
            " micros INTEGER, metadata TEXT, recorded_at TEXT, idem TEXT UNIQUE)"
        )
        db.execute("CREATE INDEX ev_recorded_at ON ev (recorded_at)")
        db.execute(
            "CREATE TABLE roll (customer_id TEXT, service_name TEXT, day TEXT, micros INTEGER,"
            " n INTEGER, PRIMARY KEY (customer_id, service_name, day)) WITHOUT ROWID"
        )
        figures: dict[str, float] = {}
        started = time.perf_counter()
        for event in make_events(count, "s"):
            db.execute("BEGIN IMMEDIATE")
            db.execute(insert, event)
            db.execute(rollup, (event[0], event[1], event[4][:10], event[2]))
            db.execute("COMMIT")
        figures["sqlite_single_event_per_s"] = per_second(count, started)
        batch_events = make_events(count * 5, "b")
        started = time.perf_counter()
        for at in range(0, len(batch_events), 1000):
            batch = batch_events[at : at + 1000]
            db.execute("BEGIN IMMEDIATE")
            db.executemany(insert, batch)
            db.executemany(batch_rollup, rollup_keys(batch))
            db.execute("COMMIT")
        figures["sqlite_batch1000_event_per_s"] = per_second(len(batch_events), started)
        read = (
            "SELECT COALESCE(SUM(micros), 0) FROM roll WHERE customer_id = ?"
            " AND service_name = 'api' AND day >= ? AND day < ?"
        )
        spread = latencies_us(
            lambda n: db.execute(read, (f"cus_{n % CUSTOMERS:03d}", DAY, "2026-12-01")).fetchone()
        )
        figures["sqlite_rollup_read_p50_us"] = spread["p50"]
        figures["sqlite_rollup_read_p99_us"] = spread["p99"]
        db.close()
    return figures


def postgresql_reference(dsn: str, count: int) -> dict[str, float]:
    import psycopg
    from psycopg import sql

    schema = sql.Identifier(f"nself_reference_{time.time_ns()}")
    figures: dict[str, float] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
        try:
            conn.execute(sql.SQL("SET search_path TO {}").format(schema))
            conn.execute(
                "CREATE TABLE ev (id BIGSERIAL PRIMARY KEY, customer_id TEXT, service_name TEXT,"
                " micros BIGINT, metadata JSONB, recorded_at TIMESTAMPTZ, idem TEXT UNIQUE)"
            )
            conn.execute("CREATE INDEX ev_recorded_at ON ev (recorded_at)")
            conn.execute(
                "CREATE TABLE roll (customer_id TEXT, service_name TEXT, day DATE,"
                " micros BIGINT, n BIGINT, PRIMARY KEY (customer_id, service_name, day))"
            )
            # one round trip: the event, and its rollup only when the key is new
            single = (
                "WITH new AS (INSERT INTO ev (customer_id, service_name, micros, metadata,"
                " recorded_at, idem) VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (idem) DO NOTHING"
                " RETURNING customer_id, service_name, recorded_at::date AS day, micros)"
                " INSERT INTO roll SELECT customer_id, service_name, day, micros, 1 FROM new"
                " ON CONFLICT (customer_id, service_name, day)"
                " DO UPDATE SET micros = roll.micros + excluded.micros, n = roll.n + 1"
            )
            singles = make_events(max(count // 4, 1), "s")
            started = time.perf_counter()
            for event in singles:
                conn.execute(single, event)
            figures["pg_single_event_per_s"] = per_second(len(singles), started)
            rollup = (
                "INSERT INTO roll VALUES (%s, %s, %s, %s, 0)"
                " ON CONFLICT (customer_id, service_name, day)"
                " DO UPDATE SET micros = roll.micros + excluded.micros"
            )
            batch_events = make_events(count * 5, "b")
            started = time.perf_counter()
            for at in range(0, len(batch_events), 5000):
                batch = batch_events[at : at + 5000]
                with conn.transaction(), conn.cursor() as cursor:
                    with cursor.copy(
                        "COPY ev (customer_id, service_name, micros, metadata, recorded_at, idem)"
                        " FROM STDIN"
                    ) as copy:
                        for event in batch:
                            copy.write_row(event)
                    cursor.executemany(rollup, rollup_keys(batch))
            figures["pg_copy_batch_event_per_s"] = per_second(len(batch_events), started)
            read = (
                "SELECT COALESCE(SUM(micros), 0) FROM roll WHERE customer_id = %s"
                " AND service_name = 'api' AND day >= %s AND day < %s"
            )
            spread = latencies_us(
                lambda n: conn.execute(
                    read, (f"cus_{n % CUSTOMERS:03d}", DAY, "2026-12-01")
                ).fetchone()
            )
            figures["pg_rollup_read_p50_us"] = spread["p50"]
            figures["pg_rollup_read_p99_us"] = spread["p99"]
        finally:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(schema))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="single events (batches: 5x)")
    parser.add_argument("--pg", help="a libpq connection string; without it, SQLite only")
    args = parser.parse_args()
    figures = sqlite_reference(args.n)
    if args.pg:
        figures.update(postgresql_reference(args.pg, args.n))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
