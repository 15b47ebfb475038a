"""CPU per ``POST /v1/usage`` request of the ``serve --workers 2`` workers (and of the
PostgreSQL sessions serving them), for old against new in the same run: a server of each tree
runs side by side, each on a scratch database of its own, and wrk's rounds alternate between
them. CPU time is read from /proc (utime + stime of each worker process and, on PostgreSQL,
of each backend of the server's database) before and after each round and divided by the
requests answered. It moves with the host's load far less than the rate does, but it does
move: on a busy host a worker wakes up for fewer requests at a time (and each sleep and
wake-up costs CPU), so compare trees only within one run. (Not a ``bench_*`` module: those
are ``run.py``'s, which write docs/PERFORMANCE.md; this one compares two trees.)

    python benchmarks/http_cpu.py --before /tmp/old-checkout [--events 1] [--rounds 5]
        [--seconds 3] [--no-pg] [--no-sqlite] [--db-prefix http_cpu]
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import psycopg
from bench_http import _env, _post, _prepare, _prepare_in_child, _server, _wrk_load
from scratch import scratch_pg_database

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int, *, kernel: bool | None = None) -> float:
    """The CPU time of process ``pid`` so far: user and system, or only system (``kernel``
    True) or only user (False)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:  # a PostgreSQL session that ended
        return 0.0
    user, system = int(fields[11]), int(fields[12])
    if kernel is None:
        return (user + system) / _TICK
    return (system if kernel else user) / _TICK


def _workers(port: int) -> list[int]:
    """The worker processes of the server listening on ``port`` (the children of ``serve``)."""
    found = subprocess.run(
        ["pgrep", "-f", f"serve --port {port} "], capture_output=True, text=True, check=False
    )
    supervisors = [int(p) for p in found.stdout.split()]
    children: list[int] = []
    for pid in supervisors:
        listing = subprocess.run(
            ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False
        )
        children += [int(p) for p in listing.stdout.split()]
    # the supervisor of `python -m nself_billing ... serve` forks the workers (and uvicorn's
    # multiprocessing may interpose a resource tracker: keep processes that hold the port)
    return [pid for pid in children if _listens(pid, port)] or children


def _listens(pid: int, port: int) -> bool:
    result = subprocess.run(
        ["ss", "-tlnpH", f"sport = :{port}"], capture_output=True, text=True, check=False
    )
    return f"pid={pid}," in result.stdout


def _backends(db_url: str | None) -> list[int]:
    if db_url is None:
        return []
    name = db_url.rsplit("/", 1)[1]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres") as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return [int(row[0]) for row in rows]


def _bodies(key: str, per_request: int, count: int) -> list[bytes]:
    auth = {"Authorization": f"Bearer {key}"}
    run = uuid.uuid4().hex[:8]
    body = {"service": "api", "quantity": 1, "metadata": {"endpoint": "/api/users"}}
    if per_request == 1:
        return [
            _post("/v1/usage", json.dumps({**body, "id": f"{run}-{n}"}).encode(), auth)
            for n in range(count)
        ]
    return [
        _post(
            "/v1/usage",
            json.dumps(
                {"events": [{**body, "id": f"{run}-{n}-{i}"} for i in range(per_request)]}
            ).encode(),
            auth,
        )
        for n in range(count)
    ]


def _round(
    port: int, db_url: str | None, key: str, *, per_request: int, seconds: float
) -> tuple[float, float, float, float, float]:
    """Requests/s, p99 ms, worker CPU µs (all, and in the kernel) and PostgreSQL CPU µs per
    request, one round."""
    bodies = _bodies(key, per_request, int(seconds * 20_000 / per_request) + 64)
    workers = _workers(port)
    backends = _backends(db_url)
    before = [_cpu_seconds(p) for p in workers]
    kernel_before = [_cpu_seconds(p, kernel=True) for p in workers]
    pg_before = {p: _cpu_seconds(p) for p in backends}
    answered, wall, p99 = _wrk_load(port, bodies, connections=16, seconds=seconds, cycle=False)
    worker_cpu = sum(_cpu_seconds(p) for p in workers) - sum(before)
    worker_kernel = sum(_cpu_seconds(p, kernel=True) for p in workers) - sum(kernel_before)
    pg_cpu = sum(_cpu_seconds(p) - pg_before.get(p, 0.0) for p in _backends(db_url))
    return (
        answered / wall,
        p99,
        worker_cpu / answered * 1e6,
        worker_kernel / answered * 1e6,
        pg_cpu / answered * 1e6,
    )


def compare(
    pg_url: str | None,
    before_src: str,
    *,
    per_request: int,
    rounds: int,
    seconds: float,
    sqlite: bool = True,
    db_prefix: str = "http_cpu",
) -> None:
    backends: list[tuple[str, str | None]] = [("SQLite", None)] if sqlite else []
    if pg_url:
        backends.append(("PostgreSQL", pg_url))
    for backend, admin in backends:
        with contextlib.ExitStack() as stack:
            servers = []
            for tree, src in (("before", before_src), ("after", None)):
                root = stack.enter_context(tempfile.TemporaryDirectory())
                url = (
                    stack.enter_context(scratch_pg_database(admin, prefix=db_prefix))
                    if admin
                    else None
                )
                env = _env(root, url)
                if src is not None:
                    env["PYTHONPATH"] = os.path.join(src, "src")
                    key, _ = _prepare_in_child(env)
                else:
                    key, _ = _prepare(env)
                port = stack.enter_context(_server(env, 2))
                db = url.replace("+psycopg", "") if url else None
                servers.append((tree, port, db, key))
            for _, port, db, key in servers:  # warm-up (caches, prepared statements)
                _round(port, db, key, per_request=per_request, seconds=1)
            results: dict[str, list[tuple[float, float, float, float, float]]] = {
                "before": [],
                "after": [],
            }
            for _ in range(rounds):
                for tree, port, db, key in servers:
                    results[tree].append(
                        _round(port, db, key, per_request=per_request, seconds=seconds)
                    )
            load = os.getloadavg()
            for tree, figures in results.items():
                rates, p99s, cpus, kernels, pgs = zip(*figures, strict=True)
                unit = "request" if per_request == 1 else "event"
                per = [cpu / per_request for cpu in cpus]
                pg_per = [pg / per_request for pg in pgs]
                print(
                    f"{backend} {tree}, {per_request} event(s)/request:"
                    f" {statistics.median(rates):,.0f} req/s"
                    f" ({min(rates):,.0f}-{max(rates):,.0f}),"
                    f" p99 {statistics.median(p99s):.1f} ms;"
                    f" workers {statistics.median(per):.1f} µs/{unit}"
                    f" ({min(per):.1f}-{max(per):.1f};"
                    f" kernel {statistics.median(kernels) / per_request:.1f}),"
                    f" PostgreSQL {statistics.median(pg_per):.1f} µs/{unit}"
                    f" ({min(pg_per):.1f}-{max(pg_per):.1f}); load average {load[0]:.1f}"
                )
            sys.stdout.flush()
            time.sleep(0.5)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="a checkout of the earlier commit")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument(
        "--db-prefix", default="http_cpu", help="name prefix of the scratch PostgreSQL databases"
    )
    parser.add_argument("--events", type=int, default=1, help="events per request")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    compare(
        None if args.no_pg else args.pg,
        args.before,
        per_request=args.events,
        rounds=args.rounds,
        seconds=args.seconds,
        sqlite=not args.no_sqlite,
        db_prefix=args.db_prefix,
    )
