"""Where the accept path's time goes with ClickHouse on (issue 19): CPU per event, not rates.

``record_many`` in batches of 10,000 (the benchmark's events, made before the clock starts),
in rounds that alternate between the configurations, on one scratch PostgreSQL database:

- ``off``: the capture trigger disabled (PostgreSQL alone);
- ``on``: the trigger enabled (one outbox row per statement, migration 0015), nothing shipping;
- ``ship``: the trigger enabled while ``usage ship`` runs in its own process (embedded engine);
- ``lean``: a prototype of the lean accept the issue lets us consider (not the product): the
  same COPY into the staging table, then one statement that writes the key (a table of
  ``(key, customer)`` and the time), the rollup, and ONE outbox row holding the new events
  already rendered as ClickHouse's CSV; no raw row, no secondary index.

Per event it reports the benchmark process's CPU split into ``prepare_batch`` (validation)
and ``write_batch`` (the COPY encoding and the driver), the accepting backend's CPU, the
shipper's backend CPU (``/proc/<pid>/stat`` of the PostgreSQL backends of the scratch
database) and the shipper process's own (its Python and the embedded ClickHouse inserting),
and the WAL written for the database's relations (``pg_walinspect``, so other databases on
the shared server do not count). Load-independent enough to compare on a busy
host; the wall rate is printed for reference only.

    python benchmarks/profile_clickhouse_accept.py [--rounds 3] [--batches 10]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_clickhouse import (
    _NSELF,
    BATCH,
    BIG,
    _events,
    _psycopg,
    _set_capture,
    _setup_customers,
    _shipper,
    _wait_shipped,
)
from scratch import bench_env, scratch_pg_database, settle

_TICK = os.sysconf("SC_CLK_TCK")

_LEAN_TABLES = (
    "CREATE TABLE IF NOT EXISTS lean_keys (idempotency_key text NOT NULL, customer_id text NOT"
    " NULL, recorded_at timestamptz NOT NULL, PRIMARY KEY (idempotency_key, customer_id));"
    " CREATE SEQUENCE IF NOT EXISTS lean_event_id;"
    " CREATE TABLE IF NOT EXISTS lean_outbox (id bigserial PRIMARY KEY, events int NOT NULL,"
    " csv text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
)
#: the key, the rollup and one outbox row with the events as ClickHouse CSV, in one statement
_LEAN_MERGE = (
    "WITH k AS (INSERT INTO lean_keys (idempotency_key, customer_id, recorded_at)"
    " SELECT idempotency_key, customer_id, recorded_at FROM billing_usage_staging"
    ' ORDER BY idempotency_key COLLATE "C", customer_id COLLATE "C"'
    " ON CONFLICT (idempotency_key, customer_id) DO NOTHING"
    " RETURNING idempotency_key, customer_id),"
    " e AS (SELECT s.* FROM billing_usage_staging s JOIN k USING (idempotency_key, customer_id)),"
    " r AS (INSERT INTO billing_usage_daily AS d (customer_id, service_name, day,"
    " quantity_micros, events) SELECT customer_id, service_name,"
    " (recorded_at AT TIME ZONE 'UTC')::date AS day, sum(quantity_micros), count(*) FROM e"
    ' GROUP BY 1, 2, 3 ORDER BY customer_id COLLATE "C", service_name COLLATE "C", 3'
    " ON CONFLICT (customer_id, service_name, day) DO UPDATE SET"
    " quantity_micros = d.quantity_micros + excluded.quantity_micros,"
    " events = d.events + excluded.events),"
    " o AS (INSERT INTO lean_outbox (events, csv) SELECT count(*), string_agg(concat_ws(',',"
    " nextval('lean_event_id'), customer_id, service_name,"
    " (quantity_micros::numeric / 1000000)::numeric(20, 6),"
    " '\"' || replace(metadata, '\"', '\"\"') || '\"',"
    " to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),"
    " to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), idempotency_key), E'\\n')"
    " FROM e HAVING count(*) > 0)"
    " SELECT count(*) FROM e"
)


#: the WAL written for the scratch database's relations since an LSN (records of other
#: databases on the shared server left out)
_WAL = (
    "SELECT COALESCE(sum(record_length), 0) FROM pg_get_wal_records_info(%s,"
    " pg_current_wal_lsn()) WHERE block_ref LIKE %s"
)


def _backends(url: str) -> dict[int, str]:
    """pid -> application_name of the scratch database's other backends."""
    name = url.rsplit("/", 1)[1]
    with _psycopg(url) as conn:
        rows = conn.execute(
            "SELECT pid, application_name, query FROM pg_stat_activity WHERE datname = %s"
            " AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return {int(pid): f"{app} {query[:40]}" for pid, app, query in rows}


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _lean_write(billing: Any, prepared: Any) -> int:
    """The prototype: the product's COPY into the staging table, then ``_LEAN_MERGE``."""
    from nself_billing.store import events as store

    with billing.context.db.write() as conn:
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor:
            cursor.execute(store._PG_STAGING)
            with cursor.copy(store._PG_COPY) as copy:
                copy.set_types(list(store._PG_COPY_TYPES))
                for e in prepared.events:
                    copy.write_row(
                        (
                            e.customer_id,
                            e.service,
                            store._metadata_json(e),
                            e.recorded_at,
                            e.quantity_micros,
                            e.idempotency_key,
                        )
                    )
            cursor.execute(_LEAN_MERGE, (prepared.now,))
            row = cursor.fetchone()
            cursor.execute("TRUNCATE billing_usage_staging")
    return int(row[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=10, help="batches of 10,000 per round")
    parser.add_argument(
        "--pg-admin",
        default=os.environ.get("NSELF_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--kinds", default="off,on,ship,lean")
    args = parser.parse_args()
    from nself_billing import Billing

    kinds = args.kinds.split(",")
    per_round = args.batches * BATCH
    results: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    with (
        scratch_pg_database(args.pg_admin, prefix="i19_acc") as url,
        tempfile.TemporaryDirectory() as root,
    ):
        plain = url.replace("+psycopg", "")
        env = bench_env(
            root,
            url,
            BILLING_CLICKHOUSE_URL=f"chdb://{Path(root) / 'chdb'}?database=billing",
            BILLING_RAW_USAGE_KEEP_DAYS="forever",
        )
        _setup_customers(env)
        subprocess.run([*_NSELF, "migrate"], env=env, check=True, capture_output=True)
        with _psycopg(plain) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
            conn.execute(_LEAN_TABLES)
            db_oid = conn.execute(
                "SELECT oid FROM pg_database WHERE datname = current_database()"
            ).fetchone()[0]
        settle(args.pg_admin)
        env_no_ch = {k: v for k, v in env.items() if k != "BILLING_CLICKHOUSE_URL"}
        first = 0
        with Billing.from_env(env_no_ch, customer_id=BIG) as billing:
            for round_number in range(args.rounds):
                order = kinds if round_number % 2 == 0 else kinds[::-1]
                for kind in order:
                    batches = [_events(first + b * BATCH, BATCH) for b in range(args.batches)]
                    first += per_round
                    _set_capture(plain, kind != "off" and kind != "lean")
                    shipper_cm = _shipper(env) if kind == "ship" else None
                    shipper = shipper_cm.__enter__() if shipper_cm else None
                    try:
                        wal = 0
                        walled = 0
                        billing.usage.record_many(
                            _events(10**9 + first, 1_000)
                        )  # the batch connection
                        pids = _backends(plain)
                        cpu0 = {pid: _cpu(pid) for pid in pids}
                        shipper_cpu0 = _cpu(shipper.pid) if shipper else 0.0
                        prep = write = 0.0
                        wall0 = time.perf_counter()
                        watch = _psycopg(plain)
                        for events in batches:
                            lsn0 = watch.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
                            r0 = resource.getrusage(resource.RUSAGE_SELF)
                            prepared = billing.usage.prepare_batch(events)
                            r1 = resource.getrusage(resource.RUSAGE_SELF)
                            if kind == "lean":
                                _lean_write(billing, prepared)
                            else:
                                billing.usage.write_batch(prepared)
                            r2 = resource.getrusage(resource.RUSAGE_SELF)
                            prep += r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
                            write += r2.ru_utime + r2.ru_stime - r1.ru_utime - r1.ru_stime
                            try:  # at once, before a checkpoint recycles the segment
                                wal += watch.execute(_WAL, (lsn0, f"%/{db_oid}/%")).fetchone()[0]
                                walled += len(events)
                            except Exception:
                                watch.close()
                                watch = _psycopg(plain)
                        wall = time.perf_counter() - wall0
                        if shipper is not None:
                            _wait_shipped(url, shipper)
                        cpu1 = {pid: _cpu(pid) for pid in pids}
                        shipper_cpu = _cpu(shipper.pid) - shipper_cpu0 if shipper else 0.0
                        watch.close()
                    finally:
                        if shipper_cm:
                            shipper_cm.__exit__(None, None, None)
                    spent = {pid: cpu1[pid] - cpu0[pid] for pid in pids}
                    accepting = max(spent.values(), default=0.0)
                    others = sum(spent.values()) - accepting
                    micro = 1e6 / per_round
                    results[kind].append(
                        {
                            "rate": per_round / wall,
                            "prepare": prep * micro,
                            "write": write * micro,
                            "backend": accepting * micro,
                            "shipper_backend": others * micro,
                            "shipper": shipper_cpu * micro,
                            "wal": int(wal) / walled if walled else float("nan"),
                        }
                    )
                    print(kind, {k: round(v, 1) for k, v in results[kind][-1].items()}, flush=True)
    print(
        f"\nmedians of {args.rounds} rounds of {per_round:,} events (µs CPU per event, WAL bytes)"
    )
    for kind, rows in results.items():
        medians = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print(
            f"{kind:5} rate {medians['rate']:>8,.0f}/s  prepare {medians['prepare']:5.1f}"
            f"  write {medians['write']:5.1f}  backend {medians['backend']:5.1f}"
            f"  shipper backend {medians['shipper_backend']:5.1f}"
            f"  shipper process {medians['shipper']:5.1f}  WAL {medians['wal']:6.1f} B"
        )


if __name__ == "__main__":
    main()
