"""PostgreSQL alone against PostgreSQL + ClickHouse, in one run on the same events (issue 19).

Both configurations end up holding the same ``total`` events (10,000,000 in the full run; event
``i`` is the same customer, service, quantity, time and key in both, see ``_events`` and
``_FILL``). How they get there:

- **Through the product's write path** (``Billing.usage.record_many``, 10,000 events per call,
  so one COPY batch per transaction): the accept rates.
  - PostgreSQL alone: rounds with the capture trigger disabled and enabled, in pairs whose order
    alternates (the
    same trigger ``migrate`` installs with ClickHouse, toggled with ``ALTER TABLE ... DISABLE
    TRIGGER``; no shipper), so the trigger's cost is a ratio of medians measured side by side.
  - PostgreSQL + ClickHouse: a sustained stretch accepted while ``usage ship`` runs in its own
    process (as ``serve``'s thread or a separate shipper would), timed until the last event is
    in ClickHouse; the shipper's lag (age of the oldest event waiting) is sampled every 0.5 s.
- **Set-based SQL** for the rest (``INSERT ... SELECT generate_series`` with the rollups in the
  same statement, as the write path's merge does): the read-side figures need 10M events, not
  hours of accepting them. With ClickHouse the capture trigger queues them (one outbox row per
  10,000), and the shipper then drains that backlog: the backlog shipping rate.

Then, on the 10M events: ``export usage --raw`` of the biggest customer (2,000,000 events) as a
command and in process, an all-customer month and the biggest customer's month per day read
from the raw events (PostgreSQL's table; ClickHouse with ``FINAL``) and from the per-day rollups
(what quotas, summaries, the detailed report and the cycle read), the product's detailed report,
``reconcile``, and storage bytes per event.

ClickHouse here is the embedded engine (chDB) in a temporary directory, through the same client
and SQL as a server, on the same cores as PostgreSQL, the benchmark and the shipper. Raw rows
are kept in PostgreSQL (``BILLING_RAW_USAGE_KEEP_DAYS=forever``): the synthetic events are
months old, and the default horizon would have the shipper delete them during the measurement.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from scratch import bench_env, scratch_pg_database, settle

_NSELF = [sys.executable, "-m", "nself_billing", "tenant", "billing"]
CUSTOMERS = 100
BIG = "cus_big"
BATCH = 10_000
START = datetime(2026, 2, 1, tzinfo=UTC)
SPAN = 27 * 86_400
SERVICES = ("api", "api", "api", "database", "functions", "bandwidth")
META = {"endpoint": "/api/users", "method": "GET", "status": 200}

ABOUT = (
    "PostgreSQL alone against PostgreSQL + ClickHouse (embedded chDB) on the same events, "
    "`benchmarks/bench_clickhouse.py` (its docstring says which events go through the "
    "product's write path and which are written set-based). PostgreSQL, the benchmark, the "
    "shipper and the embedded ClickHouse share this machine's cores with the other jobs "
    "running at the time (the load averages are above)."
)


class Sizes(NamedTuple):
    total: int
    #: PostgreSQL alone: rounds of ``round_size`` events, trigger off then on, each
    rounds: int
    round_size: int
    #: PostgreSQL + ClickHouse: events accepted while the shipper runs
    stretch: int


SMOKE = Sizes(total=20_000, rounds=2, round_size=2_000, stretch=6_000)
FULL = Sizes(total=10_000_000, rounds=3, round_size=200_000, stretch=2_000_000)


def _customer_of(i: int) -> str:
    # a fifth of the events belong to the biggest customer, the rest spread over the others
    return BIG if i % 5 == 0 else f"cus_{i % (CUSTOMERS - 1):03d}"


def _events(first: int, count: int) -> list[dict]:
    return [
        {
            "customer_id": _customer_of(i),
            "service": SERVICES[i % len(SERVICES)],
            "quantity": "1" if i % 6 != 5 else "0.000512",
            "metadata": META,
            "id": f"ev{i:012d}",
            "timestamp": (START + timedelta(seconds=(i * 7919) % SPAN)).isoformat(),
        }
        for i in range(first, first + count)
    ]


#: events ``a`` .. ``b - 1``, the same as ``_events`` makes, with their per-day rollups, in one
#: statement (what the write path's merge does, set-based)
_FILL = (
    "WITH g AS (SELECT i::bigint AS i FROM generate_series(%(a)s::bigint, %(b)s::bigint - 1) i),"
    " e AS (INSERT INTO billing_usage_records (customer_id, service_name, quantity, metadata,"
    " recorded_at, quantity_micros, idempotency_key, ingested_at)"
    " SELECT CASE WHEN i %% 5 = 0 THEN 'cus_big'"
    " ELSE 'cus_' || lpad((i %% 99)::text, 3, '0') END,"
    " (ARRAY['api','api','api','database','functions','bandwidth'])[i %% 6 + 1],"
    " CASE WHEN i %% 6 = 5 THEN 0.000512 ELSE 1 END, %(meta)s::jsonb,"
    " timestamptz '2026-02-01 00:00:00+00' + make_interval(secs => (i * 7919) %% %(span)s),"
    " CASE WHEN i %% 6 = 5 THEN 512 ELSE 1000000 END, 'ev' || lpad(i::text, 12, '0'), now()"
    " FROM g RETURNING customer_id, service_name, recorded_at, quantity_micros)"
    " INSERT INTO billing_usage_daily AS d (customer_id, service_name, day, quantity_micros,"
    " events) SELECT customer_id, service_name, (recorded_at AT TIME ZONE 'UTC')::date,"
    " sum(quantity_micros), count(*) FROM e GROUP BY 1, 2, 3"
    " ON CONFLICT (customer_id, service_name, day) DO UPDATE SET"
    " quantity_micros = d.quantity_micros + excluded.quantity_micros,"
    " events = d.events + excluded.events"
)
FILL_CHUNK = 1_000_000


def _psycopg(url: str) -> Any:
    import psycopg

    return psycopg.connect(url.replace("+psycopg", ""), autocommit=True)


def _fill(url: str, first: int, end: int) -> float:
    """Write events ``first`` .. ``end - 1`` set-based; seconds."""
    started = time.perf_counter()
    with _psycopg(url) as conn:
        for a in range(first, end, FILL_CHUNK):
            b = min(end, a + FILL_CHUNK)
            conn.execute(_FILL, {"a": a, "b": b, "meta": json.dumps(META), "span": SPAN})
        conn.execute("VACUUM ANALYZE billing_usage_records")
        conn.execute("VACUUM ANALYZE billing_usage_daily")
    return time.perf_counter() - started


def _median(call: Callable[[], object], times: int = 3) -> float:
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def _row(name: str, value: float, unit: str, target: str = "", notes: str = "") -> dict:
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "target": target,
        "baseline": None,
        "notes": notes,
    }


def _setup_customers(env: dict[str, str]) -> None:
    from nself_billing import Billing

    with Billing.from_env(env) as billing:
        for n in range(CUSTOMERS - 1):
            billing.customers.create(
                email=f"c{n}@example.com", name=f"C{n}", customer_id=f"cus_{n:03d}"
            )
        billing.customers.create(email="big@example.com", name="Big", customer_id=BIG)
        billing.subscriptions.start(BIG, "enterprise")


def _accept(billing: Any, first: int, count: int) -> float:
    """Accept events ``first`` .. ``first + count - 1`` through the library's batch path."""
    started = time.perf_counter()
    for start in range(first, first + count, BATCH):
        billing.usage.record_many(_events(start, min(BATCH, first + count - start)))
    return time.perf_counter() - started


def _pg_outbox(url: str) -> tuple[int, float]:
    """(events waiting, age in seconds of the oldest)."""
    with _psycopg(url) as conn:
        count, age = conn.execute(
            "SELECT COALESCE(sum(cardinality(record_ids)), 0),"
            " COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0) FROM billing_event_outbox"
        ).fetchone()
        return int(count), float(age)


def _pg_rows(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with _psycopg(url) as conn:
        return conn.execute(sql, params).fetchall()


def _export_command(env: dict[str, str], out: Path) -> float:
    command = [*_NSELF, "--customer", BIG, "export", "usage", "--raw", "--format=csv"]
    command += [f"--output={out}", "--force"]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def _export_in_process(billing: Any, out: Path) -> float:
    """The export itself, in this process with the engines warm (start-up excluded)."""
    return _median(
        lambda: billing.export.export(
            "usage", output_format="csv", output=out, raw=True, force=True
        )
    )


def _lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) - 1


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


def _reads(url: str, billing: Any, label: str) -> list[dict]:
    """The reads both configurations answer from PostgreSQL."""
    end = START + timedelta(days=28)
    month = _median(lambda: _pg_rows(url, _PG_MONTH, (START, end)))
    big = _median(lambda: _pg_rows(url, _PG_BIG_DAYS, (BIG, START, end)))
    rollup_month = _median(lambda: _pg_rows(url, _ROLLUP_MONTH, (START.date(), end.date())))
    rollup_big = _median(lambda: _pg_rows(url, _ROLLUP_BIG_DAYS, (BIG, START.date(), end.date())))
    report = _median(
        lambda: billing.usage.summary(
            customer_id=BIG, period="custom", start="2026-02-01", end="2026-02-28", detailed=True
        )
    )
    return [
        _row(f"all-customer month from the raw events ({label})", month * 1000, "ms"),
        _row(f"biggest customer's month per day from the raw events ({label})", big * 1000, "ms"),
        _row(f"all-customer month from the per-day rollups ({label})", rollup_month * 1000, "ms"),
        _row(
            f"biggest customer's month per day from the rollups ({label})",
            rollup_big * 1000,
            "ms",
        ),
        _row(
            f"detailed usage report of the biggest customer, a month ({label})",
            report * 1000,
            "ms",
            notes="Billing.usage.summary(detailed=True): the rollups, in process",
        ),
    ]


def _pg_bytes(url: str) -> tuple[int, int]:
    [(raw, rollups)] = _pg_rows(
        url,
        "SELECT pg_total_relation_size('billing_usage_records'),"
        " pg_total_relation_size('billing_usage_daily')",
    )
    return int(raw), int(rollups)


def _set_capture(url: str, on: bool) -> None:
    with _psycopg(url) as conn:
        conn.execute(
            "ALTER TABLE billing_usage_records "
            + ("ENABLE" if on else "DISABLE")
            + " TRIGGER billing_event_capture"
        )


def _postgresql_alone(pg_admin: str, sizes: Sizes) -> list[dict]:
    from nself_billing import Billing
    from nself_billing.store import event_outbox

    with scratch_pg_database(pg_admin) as url, tempfile.TemporaryDirectory() as root:
        env = bench_env(root, url)
        _setup_customers(env)
        settle(pg_admin)
        off: list[float] = []
        on: list[float] = []
        with Billing.from_env(env, customer_id=BIG) as billing:
            with billing.context.db.write() as conn:
                event_outbox.install_capture(conn)
            first = 0
            for round_number in range(sizes.rounds):
                pair = ((False, off), (True, on))
                # which goes first alternates, so a drift in the host's load favours neither
                for capture, rates in pair if round_number % 2 == 0 else pair[::-1]:
                    _set_capture(url, capture)
                    rates.append(sizes.round_size / _accept(billing, first, sizes.round_size))
                    first += sizes.round_size
            with billing.context.db.write() as conn:
                event_outbox.remove_capture(conn)
                conn.exec_driver_sql("TRUNCATE billing_event_outbox")
        accepted = first
        fill = _fill(url, accepted, sizes.total)
        settle(pg_admin)
        alone, captured = statistics.median(off), statistics.median(on)
        rows = [
            _row(
                f"accept, PostgreSQL alone (median of {sizes.rounds} rounds of"
                f" {sizes.round_size:,} events)",
                alone,
                "events/s",
                notes="record_many, 10,000 per call: one COPY batch per transaction; rounds: "
                + ", ".join(f"{r:,.0f}" for r in off),
            ),
            _row(
                "accept with the capture trigger on (rounds alternating with the above)",
                captured,
                "events/s",
                notes=f"{captured / alone:.2f} of the rate without it; rounds: "
                + ", ".join(f"{r:,.0f}" for r in on),
            ),
            _row(
                f"write {sizes.total - accepted:,} more events set-based (not the product's path)",
                (sizes.total - accepted) / fill,
                "events/s",
                notes="INSERT ... SELECT with the rollups, 1,000,000 a statement, then VACUUM",
            ),
        ]
        big_events = sizes.total // 5
        command = _export_command(env, Path(root) / "big.csv")
        assert _lines(Path(root) / "big.csv") == big_events
        with Billing.from_env(env, customer_id=BIG) as billing:
            warm = _export_in_process(billing, Path(root) / "big-warm.csv")
            rows += [
                _row(
                    f"export usage --raw --format=csv, biggest customer ({big_events:,} rows),"
                    " in process (PostgreSQL alone)",
                    big_events / warm,
                    "rows/s",
                    notes=f"{warm:.2f} s, engines warm; PostgreSQL's COPY",
                ),
                _row(
                    "the same export as a command (PostgreSQL alone)",
                    big_events / command,
                    "rows/s",
                    notes=f"{command:.2f} s wall, start-up included",
                ),
            ]
            rows += _reads(url, billing, "PostgreSQL alone")
        raw, rollups = _pg_bytes(url)
        rows += [
            _row(
                "storage per event, PostgreSQL alone (raw table + indexes)",
                raw / sizes.total,
                "bytes",
                notes=f"{raw / 1e9:.2f} GB for {sizes.total:,} events;"
                f" rollups {rollups / 1e6:.1f} MB more",
            )
        ]
        return rows


@contextmanager
def _shipper(env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """``usage ship`` in its own process, as an operator runs it (or ``serve``'s thread)."""
    process = subprocess.Popen(
        [*_NSELF, "usage", "ship", "--interval=0.2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        if not process.stdout.readline().startswith("Shipping"):
            raise RuntimeError(f"the shipper did not start: {process.stderr.read()}")  # type: ignore[union-attr]
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=300)


def _wait_shipped(url: str, shipper: subprocess.Popen) -> None:
    while _pg_outbox(url)[0]:
        if shipper.poll() is not None:
            raise RuntimeError(f"the shipper died: {shipper.stderr.read()}")  # type: ignore[union-attr]
        time.sleep(0.05)


def _with_clickhouse(pg_admin: str, sizes: Sizes) -> list[dict]:
    from nself_billing import Billing

    with scratch_pg_database(pg_admin) as url, tempfile.TemporaryDirectory() as root:
        ch_url = f"chdb://{Path(root) / 'chdb'}?database=billing"
        env = bench_env(
            root, url, BILLING_CLICKHOUSE_URL=ch_url, BILLING_RAW_USAGE_KEEP_DAYS="forever"
        )
        _setup_customers(env)
        subprocess.run([*_NSELF, "migrate"], env=env, check=True, capture_output=True)
        settle(pg_admin)
        lags: list[float] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.5):
                lags.append(_pg_outbox(url)[1])

        with _shipper(env) as shipper, Billing.from_env(env, customer_id=BIG) as billing:
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            started = time.perf_counter()
            accepted = _accept(billing, 0, sizes.stretch)
            _wait_shipped(url, shipper)
            sustained = time.perf_counter() - started
            stop.set()
            sampler.join()
        fill = _fill(url, sizes.stretch, sizes.total)
        backlog = _pg_outbox(url)[0]
        settle(pg_admin)
        with _shipper(env) as shipper:
            started = time.perf_counter()
            _wait_shipped(url, shipper)
            drained = time.perf_counter() - started
        rows = [
            _row(
                f"sustained accept-and-ship, {sizes.stretch:,} events (PostgreSQL + ClickHouse)",
                sizes.stretch / sustained,
                "events/s",
                "≥ 50,000 events/s",
                f"record_many as above while `usage ship` runs in its own process; until the"
                f" last event is in ClickHouse: {sustained:.1f} s",
            ),
            _row(
                "of which accepting alone (the same stretch, until the last record_many returned)",
                sizes.stretch / accepted,
                "events/s",
            ),
            _row(
                "shipper lag during that load, max of 0.5 s samples",
                max(lags, default=0.0),
                "s",
                notes=f"median {statistics.median(lags) if lags else 0:.2f} s,"
                f" {len(lags)} samples (age of the oldest event waiting)",
            ),
            _row(
                f"write {sizes.total - sizes.stretch:,} more events set-based, trigger on",
                (sizes.total - sizes.stretch) / fill,
                "events/s",
                notes="the same statements as PostgreSQL alone; the trigger queues them",
            ),
            _row(
                f"ship a backlog of {backlog:,} events (one shipper)",
                backlog / drained,
                "events/s",
                notes="batches of 10,000: claim, DELETE + COPY out as CSV, one ClickHouse block",
            ),
        ]
        big_events = sizes.total // 5
        command = _export_command(env, Path(root) / "big.csv")
        assert _lines(Path(root) / "big.csv") == big_events
        with Billing.from_env(env, customer_id=BIG) as billing:
            warm = _export_in_process(billing, Path(root) / "big-warm.csv")
            same = (Path(root) / "big.csv").read_bytes() == (
                Path(root) / "big-warm.csv"
            ).read_bytes()
            reconcile = _median(lambda: billing.events.reconcile(), times=1)
            consistent = billing.events.reconcile().consistent
            rows += [
                _row(
                    f"export usage --raw --format=csv, biggest customer ({big_events:,} rows),"
                    " in process (ClickHouse)",
                    big_events / warm,
                    "rows/s",
                    "≥ 1,000,000 rows/s",
                    f"{warm:.2f} s, engines warm; the engine renders the CSV lines (FINAL, in"
                    " id order: it sorts them) and streams them as TabSeparated",
                ),
                _row(
                    "the same export as a command (ClickHouse)",
                    big_events / command,
                    "rows/s",
                    notes=f"{command:.2f} s wall, start-up included; "
                    + ("same bytes as in process" if same else "BYTES DIFFER"),
                ),
                _row(
                    f"reconcile, all customers ({sizes.total:,} events)",
                    reconcile * 1000,
                    "ms",
                    notes="rollups against ClickHouse FINAL per customer, service and day: "
                    + ("consistent" if consistent else "DIFFERENCES"),
                ),
            ]
            rows += _reads(url, billing, "PostgreSQL + ClickHouse")
            rows += _reads_clickhouse(billing.events.clickhouse)
            # the parts merged, as ClickHouse's background merges leave a month that is over
            merged = _export_in_process(billing, Path(root) / "big-merged.csv")
            rows.append(
                _row(
                    "the same export in process after OPTIMIZE FINAL (ClickHouse)",
                    big_events / merged,
                    "rows/s",
                    "≥ 1,000,000 rows/s",
                    f"{merged:.2f} s; one part per month, as background merges leave a month"
                    " that is over (the row above reads the parts the shipper's inserts made,"
                    " with the engine's merges starting beside the export)",
                )
            )
        return rows


def _reads_clickhouse(store: Any) -> list[dict]:
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
    rows_before, size_before = store.storage()
    started = time.perf_counter()
    store._run("command", f"OPTIMIZE TABLE {store.table} FINAL")
    optimize = time.perf_counter() - started
    rows_stored, size = store.storage()
    return [
        _row("all-customer month from the raw events (ClickHouse, FINAL)", month * 1000, "ms"),
        _row(
            "biggest customer's month per day from the raw events (ClickHouse, FINAL)",
            big * 1000,
            "ms",
        ),
        _row(
            "storage per event (ClickHouse, as shipped)",
            size_before / max(rows_before, 1),
            "bytes",
            notes=f"{rows_before:,} rows, {size_before / 1e6:.1f} MB in the parts the inserts made",
        ),
        _row(
            "storage per event (ClickHouse, after OPTIMIZE FINAL)",
            size / max(rows_stored, 1),
            "bytes",
            notes=f"{rows_stored:,} rows, {size / 1e6:.1f} MB; the OPTIMIZE took {optimize:.0f} s;"
            " one synthetic metadata value compresses better than real ones",
        ),
    ]


def run(*, smoke: bool, pg_url: str | None) -> list[dict]:
    if not pg_url:
        return []
    try:
        import chdb  # noqa: F401
        import clickhouse_connect  # noqa: F401
    except ImportError:
        print("bench_clickhouse: chdb/clickhouse-connect not installed; skipped", file=sys.stderr)
        return []
    sizes = SMOKE if smoke else FULL
    return _postgresql_alone(pg_url, sizes) + _with_clickhouse(pg_url, sizes)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--total", type=int, help="events in all (overrides the size)")
    parser.add_argument(
        "--pg",
        default=os.environ.get("NSELF_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    chosen = SMOKE if args.smoke else FULL
    if args.total:
        part = max(args.total // 10, BATCH)
        chosen = Sizes(args.total, 2, part // 2, part)
    figures = _postgresql_alone(args.pg, chosen) + _with_clickhouse(args.pg, chosen)
    print(json.dumps(figures, indent=1, default=str))
