"""Streaming export: raw usage events to CSV, rows/s and the exporting process's peak RSS.

The events are loaded with the raw driver (setup, not measured); the export runs as a user runs
it, ``nself tenant billing export usage --raw --format=csv``, in a child process whose peak
resident memory is read from ``wait4``.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scratch import bench_env, scratch_pg_database

CUSTOMER = "cus_bench_export"
META = json.dumps({"endpoint": "/api/users", "method": "GET", "status": 200})


def _env(root: str, db_url: str | None) -> dict[str, str]:
    return bench_env(root, db_url, NSELF_CUSTOMER_ID=CUSTOMER)


def _prepare(env: dict[str, str]) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "nself_billing",
            "tenant",
            "billing",
            "customer",
            "create",
            "--email",
            "bench@example.com",
            "--name",
            "Bench",
            "--id",
            CUSTOMER,
        ],
        env=env,
        check=True,
        capture_output=True,
    )


def _rows(n: int):
    for i in range(n):
        day = 1 + i % 28
        yield (
            CUSTOMER,
            "api",
            "1",
            1_000_000,
            META,
            f"2026-02-{day:02d} 12:{i % 60:02d}:00.000000",
            f"e{i}",
        )


def _load_sqlite(path: Path, n: int) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO billing_usage_records (customer_id, service_name, quantity,"
        " quantity_micros, metadata, recorded_at, idempotency_key)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        _rows(n),
    )
    db.execute("COMMIT")
    db.close()


def _load_pg(url: str, n: int) -> None:
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as conn, conn.cursor() as cursor:
        with cursor.copy(
            "COPY billing_usage_records (customer_id, service_name, quantity,"
            " quantity_micros, metadata, recorded_at, idempotency_key)"
            " FROM STDIN"
        ) as copy:
            for row in _rows(n):
                copy.write_row(row)


#: runs the export and prints its peak RSS. Linux carries the resident high-water mark of the
#: forked parent across exec into the child's ru_maxrss, so the export is started from this
#: small launcher rather than from the benchmark process, which holds the loaded rows.
_LAUNCHER = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "print(usage.ru_maxrss)\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def _export(env: dict[str, str], out: Path) -> tuple[float, float]:
    command = [
        sys.executable,
        "-m",
        "nself_billing",
        "tenant",
        "billing",
        "export",
        "usage",
        "--raw",
        "--format=csv",
        f"--output={out}",
    ]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *command],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"export failed: {done.stderr}")
    return seconds, int(done.stdout.split()[-1]) / 1024  # KiB -> MiB


def _figures(backend: str, n: int, seconds: float, rss: float) -> list[dict]:
    return [
        {
            "name": f"raw usage export to CSV, {n:,} events ({backend})",
            "value": n / seconds,
            "unit": "rows/s",
            "target": "≥ 300,000 rows/s",
            "baseline": None,
            "notes": f"{seconds:.1f} s wall, start-up included",
        },
        {
            "name": f"raw usage export peak RSS, {n:,} events ({backend})",
            "value": rss,
            "unit": "MiB",
            "target": "< 200 MB",
            "baseline": None,
            "notes": "constant in n",
        },
    ]


def run(*, smoke: bool, pg_url: str | None) -> list[dict]:
    n = 20_000 if smoke else 10_000_000
    rows = []
    with tempfile.TemporaryDirectory() as root:
        env = _env(root, None)
        _prepare(env)
        _load_sqlite(Path(root) / ".nself/billing/billing.db", n)
        rows += _figures("SQLite", n, *_export(env, Path(root) / "out.csv"))
    if pg_url:
        with scratch_pg_database(pg_url) as url, tempfile.TemporaryDirectory() as root:
            env = _env(root, url)
            _prepare(env)
            _load_pg(url, n)
            rows += _figures("PostgreSQL", n, *_export(env, Path(root) / "out.csv"))
    return rows
