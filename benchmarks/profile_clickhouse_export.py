"""CPU per row and rows/s of ``export usage --raw`` from ClickHouse, the query as it was before
and as it is now, alternating in one process (engine and client CPU from ``getrusage``: the
embedded engine runs in this process, so the figure holds up on a shared host where wall
time does not).

The benchmark's events (``bench_clickhouse._FILL``'s customers, services, times and keys) go
straight into an embedded engine's table in a temporary directory, ``--total`` of them, a fifth
the biggest customer's; then its export runs ``--pairs`` times each way, after one unmeasured
round of each:

- ``old``: the line and format before: ``FORMAT TabSeparatedRaw`` (chDB does not stream it:
  the whole result is held, then read in 1 MB pieces), the functions after the sort, the
  default block size, lines counted as newlines;
- ``new``: ``ClickHouseEvents.export_csv``: ``FORMAT TabSeparated`` streamed and unescaped in
  16 MB reads, ``query_plan_execute_functions_after_sorting = 0`` (the line rendered before
  the sort, in the threads that read the rows), ``max_block_size = 16384``.

Both in id order, ``FINAL``, the same bytes (checked once).

    python benchmarks/profile_clickhouse_export.py [--total 10000000] [--pairs 6]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from nself_billing.store import clickhouse as ch
from nself_billing.store.clickhouse import ClickHouseEvents


def _old_query(table: str) -> str:
    """The query before the change: the same line, no settings."""
    return (
        f"SELECT {ch._EXPORT_LINE} FROM {table} FINAL"
        " WHERE customer_id = {customer:String} ORDER BY id"
    )


_LOAD = (
    "INSERT INTO {table} (id, customer_id, service_name, quantity, metadata, recorded_at,"
    " ingested_at, idempotency_key) SELECT number,"
    " if(number % 5 = 0, 'cus_big', concat('cus_', leftPad(toString(number % 99), 3, '0'))),"
    " ['api','api','api','database','functions','bandwidth'][number % 6 + 1],"
    " if(number % 6 = 5, toDecimal64('0.000512', 6), toDecimal64(1, 6)),"
    ' \'{{"endpoint": "/api/users", "method": "GET", "status": 200}}\','
    " toDateTime64('2026-02-01 00:00:00', 6, 'UTC') + toIntervalSecond((number * 7919) % 2332800),"
    " now64(6), concat('ev', leftPad(toString(number), 12, '0')) FROM numbers({a}, {n})"
)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--total", type=int, default=10_000_000, help="events in the table")
    parser.add_argument("--pairs", type=int, default=6, help="measured rounds of each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        events = ClickHouseEvents(f"chdb://{Path(root) / 'chdb'}")
        events.create_tables()
        step = 500_000
        for a in range(0, args.total, step):
            n = min(step, args.total - a)
            events._run("command", _LOAD.format(table=events.table, a=a, n=n))
        client = events._connect()
        parameters = events._bounds("cus_big", None, None)

        def old(digest: Callable[[bytes], object] | None = None) -> int:
            stream = client.raw_stream(
                _old_query(events.table), parameters=parameters, fmt="TabSeparatedRaw"
            )
            lines = 0
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                lines += chunk.count(b"\n")
                if digest:
                    digest(chunk)
            stream.close()
            return lines

        def new(digest: Callable[[bytes], object] | None = None) -> int:
            lines = 0
            for chunk, count in events.export_csv("cus_big", None, None):
                lines += count
                if digest:
                    digest(chunk)
            return lines

        ways: list[tuple[str, Callable[..., int]]] = [("old", old), ("new", new)]
        hashes = []
        for _name, call in ways:  # one unmeasured round each, and the bytes compared
            digest = hashlib.sha256()
            call(digest.update)
            hashes.append(digest.hexdigest())
        spent: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
        rows = 0
        load = os.getloadavg()
        for pair in range(args.pairs):
            for name, call in ways if pair % 2 == 0 else ways[::-1]:
                cpu, started = _cpu(), time.perf_counter()
                rows = call()
                spent[name].append((_cpu() - cpu, time.perf_counter() - started))
        print(
            f"{args.total:,} events, export of {rows:,} rows, {args.pairs} pairs;"
            f" load {load[0]:.2f} before, {os.getloadavg()[0]:.2f} after;"
            f" {'same bytes' if hashes[0] == hashes[1] else 'BYTES DIFFER'}"
        )
        for name, runs in spent.items():
            cpu = statistics.median(r[0] for r in runs)
            wall = statistics.median(r[1] for r in runs)
            print(
                f"{name}: CPU median {cpu:.2f} s ({cpu / rows * 1e6:.2f} µs a row;"
                f" {', '.join(f'{r[0]:.2f}' for r in runs)}), {rows / cpu:,.0f} rows per CPU"
                f" second; wall median {wall:.2f} s, {rows / wall:,.0f} rows/s"
            )
        events.close()


if __name__ == "__main__":
    main()
