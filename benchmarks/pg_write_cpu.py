"""PostgreSQL's own cost per event on the write path, schema against schema: backend CPU (from
/proc/<pid>/schedstat of the backend, so the load of the host moves it less than a rate) and,
from EXPLAIN (ANALYZE, BUFFERS, WAL), the foreign-key triggers' time and the WAL per event.

    python benchmarks/pg_write_cpu.py --pg postgresql://postgres@127.0.0.1/postgres \\
        --rows 1000000 --rounds 5 --before 0015

Two scratch databases get ``--rows`` existing events (1,000 customers, 90 days, random client
ids, so index depth and cache misses are real), one at the newest schema and one migrated down
to ``--before``; then, alternating between them each round: the group statement of
``store/events.py``'s ``write_group`` (migration 0014's, run as a statement with asynchronous
commit: the WAL flush is shared by group commit in production and is not this figure) with 1
and 10 events, and a 10,000-event batch (COPY into the staging table and ``_PG_MERGE``).
Prints one JSON object: medians over the rounds with min and max. Needs the backend on this
host (it reads /proc).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import statistics
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scratch import scratch_pg_database

META = '{"endpoint":"/api/users","method":"GET","status":200}'
CUSTOMERS = 1000
SERVICES = ("api", "storage", "compute")


def _group_statement() -> str:
    from nself_billing.store.migrate import MIGRATIONS_DIR

    path = MIGRATIONS_DIR / "versions" / "0014_usage_write_group.py"
    spec = importlib.util.spec_from_file_location("write_group_0014", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(
        module._WRITE.format(outbox="")
        .replace("INTO new_events", "")
        .replace("p_events", "%(events)s::jsonb")
        .replace("p_now", "%(now)s")
    )


def _prepare(url: str, rows: int, revision: str | None) -> None:
    import psycopg
    from alembic import command
    from alembic.config import Config

    from nself_billing.store.db import Database
    from nself_billing.store.migrate import MIGRATIONS_DIR, ensure_schema

    db = Database(url)
    try:
        ensure_schema(db)
        if revision:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            with db.write() as conn:
                config.attributes["connection"] = conn
                command.downgrade(config, revision)
    finally:
        db.dispose()
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO billing_customers (customer_id, email, name)"
            " SELECT 'cus_' || lpad(g::text, 4, '0'), 'c' || g || '@example.com', 'C' || g"
            " FROM generate_series(0, %s - 1) g",
            (CUSTOMERS,),
        )
        conn.execute(
            "INSERT INTO billing_usage_records (customer_id, service_name, quantity, metadata,"
            " recorded_at, quantity_micros, idempotency_key, ingested_at)"
            " SELECT 'cus_' || lpad((g %% %(c)s)::text, 4, '0'), (ARRAY['api', 'storage',"
            " 'compute', 'email', 'sms', 'bandwidth'])[1 + (g / %(c)s) %% 6], 1, %(meta)s::jsonb,"
            " t, 1000000, gen_random_uuid()::text, t"
            " FROM generate_series(0, %(n)s - 1) g,"
            " LATERAL (SELECT timestamptz '2026-09-01 00:00:00+00'"
            " + g * (interval '90 days' / %(n)s) AS t) x",
            {"c": CUSTOMERS, "n": rows, "meta": META},
        )
        conn.execute(
            "INSERT INTO billing_usage_daily SELECT customer_id, service_name,"
            " (recorded_at AT TIME ZONE 'UTC')::date, sum(quantity_micros), count(*)"
            " FROM billing_usage_records GROUP BY 1, 2, 3"
        )
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


def _group(size: int) -> str:
    """A group of ``size`` new events as the procedure's JSON parameter."""
    now = datetime.now(UTC)
    return json.dumps([[*row[:3], now.isoformat(), *row[4:]] for row in _batch_rows(size, now)])


def _batch_rows(count: int, now: datetime) -> list[tuple[Any, ...]]:
    return [
        (
            f"cus_{random.randrange(CUSTOMERS):04d}",
            random.choice(SERVICES),
            META,
            now,
            1_000_000,
            str(uuid.uuid4()),
        )
        for _ in range(count)
    ]


def _explain(cursor: Any, sql: str, params: dict[str, Any]) -> tuple[float, float, int, int]:
    """(execution ms, foreign-key trigger ms, WAL records, WAL bytes) of one statement."""
    (plan,) = cursor.execute(
        "EXPLAIN (ANALYZE, BUFFERS, WAL, FORMAT JSON) " + sql, params
    ).fetchone()
    top = plan[0]
    foreign_keys = sum(
        trigger["Time"]
        for trigger in top.get("Triggers", [])
        if trigger["Trigger Name"].startswith(("RI_", "Trigger for constraint"))
        or "fkey" in trigger.get("Constraint Name", "")
    )
    return top["Execution Time"], foreign_keys, top["Plan"]["WAL Records"], top["Plan"]["WAL Bytes"]


def measure(url: str, statements: int) -> dict[str, float]:
    import psycopg

    from nself_billing.store import events as ev

    group_sql = _group_statement()
    merge = ev._PG_MERGE.replace("%s", "%(now)s")
    figures: dict[str, float] = {}
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        # today's rollup rows exist, as after the first event of each (customer, service) of a
        # day: the figure is the steady state of a day, not its first events (each of which
        # inserts its rollup row, and on the newest schema pays the customer check there)
        conn.execute(
            "INSERT INTO billing_usage_daily (customer_id, service_name, day, quantity_micros,"
            " events) SELECT customer_id, s, (now() AT TIME ZONE 'UTC')::date, 0, 0"
            " FROM billing_customers, unnest(%s::text[]) AS s ON CONFLICT DO NOTHING",
            (list(SERVICES),),
        )
        conn.execute("VACUUM billing_usage_daily")  # autovacuum's work, whether or not it is on
        conn.execute("SET synchronous_commit = off")
        (pid,) = conn.execute("SELECT pg_backend_pid()").fetchone()  # type: ignore[misc]

        def cpu_ns() -> int:
            return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])

        for size in (1, 10):
            calls = max(statements // size, 20)
            groups = [{"events": _group(size), "now": datetime.now(UTC)} for _ in range(calls)]
            for params in groups[:10]:  # warm: plans cached, as in a running server
                conn.execute(group_sql, params, prepare=True)
            started = cpu_ns()
            for params in groups[10:]:
                conn.execute(group_sql, params, prepare=True)
            done = (calls - 10) * size
            figures[f"group_{size}_cpu_us_per_event"] = (cpu_ns() - started) / 1000 / done
            plans = [
                _explain(
                    conn.cursor(), group_sql, {"events": _group(size), "now": datetime.now(UTC)}
                )
                for _ in range(12)
            ][2:]
            figures[f"group_{size}_fk_us_per_event"] = (
                statistics.median(p[1] for p in plans) * 1000 / size
            )
            figures[f"group_{size}_wal_bytes_per_event"] = (
                statistics.median(p[3] for p in plans) / size
            )
        spent, foreign_keys, wal = 0, [], []
        for round_ in range(3):
            now = datetime.now(UTC)
            rows = _batch_rows(10_000, now)
            started = cpu_ns()
            with conn.transaction(), conn.cursor() as cursor:
                cursor.execute(ev._PG_STAGING)
                with cursor.copy(ev._PG_COPY) as copy:
                    copy.set_types(list(ev._PG_COPY_TYPES))
                    for row in rows:
                        copy.write_row(row)
                if round_ == 2:  # the last one explained (EXPLAIN ANALYZE runs it)
                    _, fk, _, wal_bytes = _explain(cursor, merge, {"now": now})
                    foreign_keys.append(fk)
                    wal.append(wal_bytes)
                else:
                    cursor.execute(merge, {"now": now})
                cursor.execute("TRUNCATE billing_usage_staging")
            if round_ == 1:  # the first warms, the last is explained
                spent += cpu_ns() - started
        figures["batch_10000_cpu_us_per_event"] = spent / 1000 / 10_000
        figures["batch_10000_fk_us_per_event"] = foreign_keys[0] * 1000 / 10_000
        figures["batch_10000_wal_bytes_per_event"] = wal[0] / 10_000
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", required=True, help="an admin URL of the PostgreSQL server")
    parser.add_argument("--rows", type=int, default=1_000_000, help="existing events")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--statements", type=int, default=1000, help="events per group figure")
    parser.add_argument("--before", help="also measure the schema at this revision (e.g. 0015)")
    args = parser.parse_args()
    from contextlib import ExitStack

    with ExitStack() as stack:
        schemas = {"now": stack.enter_context(scratch_pg_database(args.pg, "nself_pgwrite"))}
        if args.before:
            schemas[args.before] = stack.enter_context(
                scratch_pg_database(args.pg, "nself_pgwrite")
            )
        for name, url in schemas.items():
            _prepare(url, args.rows, None if name == "now" else name)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in schemas}
        for _ in range(args.rounds):
            for name, url in schemas.items():
                runs[name].append(measure(url, args.statements))
    print(
        json.dumps(
            {
                name: {
                    key: f"{statistics.median(r[key] for r in results):.1f}"
                    f" ({min(r[key] for r in results):.1f}-{max(r[key] for r in results):.1f})"
                    for key in results[0]
                }
                for name, results in runs.items()
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
