"""Where a batch of usage events stops being cheaper to write by one statement (the
single-event path's rows as array parameters) than by COPY into the staging table and the
merge, on PostgreSQL: ``store.events.PG_STATEMENT_MAX`` is chosen from this.

    python benchmarks/bench_cutover.py [--pg URL] [--repeat N]

For each batch size both ways are timed alternately in the same run (one write transaction
each, as ``record_many`` writes, new events with random keys), and the medians are printed
with their spread; the cut-over is the smallest size at which COPY is faster.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from scratch import bench_env, scratch_pg_database

SIZES = (1, 2, 5, 10, 20, 50, 100, 200, 300, 400, 500, 1000)
CUSTOMER = "cus_bench_cutover"


def _events(n: int, now: datetime) -> list[Any]:
    from nself_billing.store.events import NewUsage

    return [
        NewUsage(CUSTOMER, "api", Decimal(1), 1_000_000, {}, now, uuid.uuid4().hex, "{}")
        for _ in range(n)
    ]


def measure(url: str, repeat: int, sizes: tuple[int, ...] = SIZES) -> list[dict[str, Any]]:
    from nself_billing import Billing
    from nself_billing.store import events as store

    rows = []
    with tempfile.TemporaryDirectory() as root, Billing.from_env(bench_env(root, url)) as billing:
        billing.customers.create(email="c@example.com", name="C", customer_id=CUSTOMER)
        db = billing.context.db
        saved = store.PG_STATEMENT_MAX
        try:
            for size in sizes:
                times: dict[str, list[float]] = {"statement": [], "copy": []}
                for _ in range(repeat):
                    for way, bound in (("statement", 10**9), ("copy", 0)):
                        store.PG_STATEMENT_MAX = bound
                        now = datetime.now(UTC)
                        batch = _events(size, now)
                        start = time.perf_counter()
                        with db.write() as conn:
                            store.insert_events(conn, batch, now=now)
                        times[way].append(time.perf_counter() - start)
                row: dict[str, Any] = {"size": size}
                for way, seconds in times.items():
                    ms = sorted(s * 1000 for s in seconds)
                    row[way] = (statistics.median(ms), ms[len(ms) // 10], ms[-1 - len(ms) // 10])
                rows.append(row)
        finally:
            store.PG_STATEMENT_MAX = saved
    return rows


def cut_over(rows: list[dict[str, Any]]) -> int | None:
    """The smallest batch size at which COPY and the merge beat the statement (median)."""
    return next((row["size"] for row in rows if row["copy"][0] < row["statement"][0]), None)


def run(*, smoke: bool, pg_url: str | None) -> list[dict[str, Any]]:
    """``benchmarks/run.py``'s rows: the statement and COPY times of a 1-, 100- and
    1,000-event batch, and the cut-over (PostgreSQL only; nothing without a server)."""
    if not pg_url:
        return []
    sizes = (1, 100, 1000) if smoke else SIZES
    with scratch_pg_database(pg_url, "nself_bench_cutover") as url:
        rows = measure(url, 3 if smoke else 30, sizes)
    out: list[dict[str, Any]] = []
    for row in rows:
        if row["size"] not in (1, 100, 1000):
            continue
        for way, label in (("statement", "one statement"), ("copy", "COPY + merge")):
            median, low, high = row[way]
            out.append(
                {
                    "name": f"PostgreSQL batch of {row['size']:,} by {label}",
                    "value": round(median, 2),
                    "unit": "ms",
                    "target": None,
                    "baseline": None,
                    "notes": f"median, p10-p90 {low:.2f}-{high:.2f} ms",
                }
            )
    cut = cut_over(rows)
    out.append(
        {
            "name": "PostgreSQL cut-over: COPY first faster at",
            "value": cut if cut is not None else 0,
            "unit": "events",
            "target": None,
            "baseline": None,
            "notes": "0: never up to the largest size; store.events.PG_STATEMENT_MAX is set below"
            f" it; sizes {', '.join(map(str, sizes))}",
        }
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with scratch_pg_database(args.pg, "nself_bench_cutover") as url:
        rows = measure(url, args.repeat)
    print("| events | statement, ms (p10-p90) | COPY + merge, ms (p10-p90) | COPY/statement |")
    print("|---:|---:|---:|---:|")
    cut = cut_over(rows)
    for row in rows:
        (sm, slo, shi), (cm, clo, chi) = row["statement"], row["copy"]
        print(
            f"| {row['size']:,} | {sm:.2f} ({slo:.2f}-{shi:.2f}) | {cm:.2f} ({clo:.2f}-{chi:.2f})"
            f" | {cm / sm:.2f} |"
        )
    print(f"COPY first faster at: {cut if cut is not None else 'never (up to 1,000)'} events")


if __name__ == "__main__":
    main()
