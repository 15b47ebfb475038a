"""CPU of ``export usage --raw`` from ClickHouse, the export line before and after issue 19's
change to it, alternating in one process (engine and client CPU, load-independent enough).

The benchmark's events (``bench_clickhouse._FILL``'s customers, services, times and keys) go
straight into an embedded engine's table in a temporary directory, ``total`` of them, a fifth
the biggest customer's; then its export runs ``pairs`` times each way:

- ``by id``: the line as it was rendered before (a regular expression per field, the customer
  rendered per row), ``ORDER BY id``;
- ``now``: ``ClickHouseEvents.export_csv``, today's line (the customer a parameter,
  ``multiSearchAny``), also in id order (the table's own order was tried and not kept:
  docs/SCALING.md).

    python benchmarks/profile_clickhouse_export.py [--total 10000000] [--pairs 6]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from nself_billing.store import clickhouse as ch
from nself_billing.store.clickhouse import ClickHouseEvents


def _regex_field(column: str) -> str:
    return (
        f"if(match({column}, '[,\"\\r\\n]'),"
        f" concat('\"', replaceAll({column}, '\"', '\"\"'), '\"'), {column})"
    )


#: the line and order before the change
_BY_ID = (
    "SELECT concat(toString(id), ',', "
    + ", ',', ".join(
        (
            _regex_field("customer_id"),
            _regex_field("service_name"),
            ch._QUANTITY_TEXT,
            ch._TIME_TEXT,
            _regex_field("idempotency_key"),
            _regex_field("metadata"),
        )
    )
    + ") FROM {table} FINAL WHERE customer_id = {{customer:String}} ORDER BY id"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--total", type=int, default=10_000_000)
    parser.add_argument("--pairs", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        events = ClickHouseEvents(f"chdb://{Path(root) / 'chdb'}")
        events.create_tables()
        step = 500_000
        for a in range(0, args.total, step):
            n = min(step, args.total - a)
            events._run("command", _LOAD.format(table=events.table, a=a, n=n))
        client = events._connect()

        def by_id() -> int:
            stream = client.raw_stream(
                _BY_ID.format(table=events.table),
                parameters={"customer": "cus_big"},
                fmt="TabSeparatedRaw",
            )
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b""))
            stream.close()
            return lines

        def now() -> int:
            return sum(chunk.count(b"\n") for chunk in events.export_csv("cus_big", None, None))

        spent: dict[str, list[tuple[float, float]]] = {"by id": [], "now": []}
        ways: list[tuple[str, Callable[[], int]]] = [("by id", by_id), ("now", now)]
        rows = 0
        for pair in range(args.pairs):
            for name, call in ways if pair % 2 == 0 else ways[::-1]:
                before = resource.getrusage(resource.RUSAGE_SELF)
                started = time.perf_counter()
                rows = call()
                wall = time.perf_counter() - started
                after = resource.getrusage(resource.RUSAGE_SELF)
                cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                spent[name].append((cpu, wall))
        for name, runs in spent.items():
            cpu = statistics.median(r[0] for r in runs)
            wall = statistics.median(r[1] for r in runs)
            print(
                f"{name:6} {rows:,} rows: CPU median {cpu:.2f} s"
                f" ({', '.join(f'{r[0]:.2f}' for r in sorted(runs))}),"
                f" wall median {wall:.2f} s, {rows / wall:,.0f} rows/s"
            )
        events.close()


if __name__ == "__main__":
    main()
