"""The HTTP service under loopback load: batched usage ingestion (events/s), quota consume
(requests/s), Stripe webhook deliveries (events/s), and the read endpoints (quota status,
usage summary, subscription, invoices) with ``/healthz`` as the server's own floor
(requests/s).

The server runs as a user runs it (``nself tenant billing serve --workers N``) in child
processes. The per-request phases (consume, webhooks) take their load from ``wrk`` (Debian's
package; one thread, keep-alive connections, requests prepared beforehand and replayed by a
Lua script) when it is installed: on this 2-core machine the generator shares the cores with
the server and PostgreSQL, and wrk spends a small fraction of the Python client's CPU per
request. Batched ingestion (and everything when wrk is missing) uses a minimal asyncio
HTTP/1.1 keep-alive client in this process. Each figure's notes name its generator. Every
phase is bounded in time; every answer is checked to be a 2xx.

Each phase runs twice: as is, and with two notification endpoints configured, one answering
(a loopback receiver in this process) and one down (a closed port), so the server's
background sender retries throughout; the two sets of figures should agree within noise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from scratch import bench_env, scratch_pg_database

CUSTOMER = "cus_bench_http"
CONSUMERS = 8
#: webhook events are spread over this many customers, as deliveries are in real life (events
#: for one object are applied one after the other: each checks the object's newest event time)
WEBHOOK_OBJECTS = 256
SECRET = "whsec_bench_http"
#: each figure is the median of this many timed runs of this length
ROUNDS = 5
ROUND_SECONDS = 5.0
READ_CONNECTIONS = 16
#: connections of the one-event and ten-event POST /v1/usage phases (issue 15's setting)
SMALL_CONNECTIONS = 16
#: the read endpoints, as an API gateway (one quota before each request it serves) or a
#: dashboard calls them; each is asked for the consume customers in turn
READS = ("/v1/quota/api", "/v1/quota", "/v1/usage", "/v1/subscription", "/v1/invoices")
#: /healthz before the liveness answer stopped reading the database (issue 15, same benchmark)
HEALTHZ_BEFORE = {"PostgreSQL": 2091.0, "SQLite": 2924.0}


def _env(root: str, db_url: str | None) -> dict[str, str]:
    return bench_env(root, db_url, STRIPE_WEBHOOK_SECRET=SECRET)


@contextmanager
def _endpoints(env: dict[str, str]):  # type: ignore[no-untyped-def]
    """Two notification endpoints: a receiver that answers 204, and a closed port."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from nself_billing import Billing

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.daemon_threads = True
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        with Billing.from_env(env) as billing:
            billing.notify.add_endpoint(f"http://127.0.0.1:{receiver.server_address[1]}/hook")
            billing.notify.add_endpoint(f"http://127.0.0.1:{_free_port()}/down")
        yield
    finally:
        receiver.shutdown()
        receiver.server_close()


def _prepare(env: dict[str, str]) -> tuple[str, list[str]]:
    """A customer on the enterprise plan (unlimited) with a key, for ingestion; and
    ``CONSUMERS`` customers on the free plan with a hard api limit of a billion, one key each,
    for consume (one lock per customer and service: tenants do not wait for each other)."""
    from nself_billing import Billing

    with Billing.from_env(env) as billing:
        billing.customers.create(email="bench@example.com", name="Bench", customer_id=CUSTOMER)
        billing.subscriptions.start(CUSTOMER, "enterprise")
        key = billing.apikeys.create(customer_id=CUSTOMER, name="bench").secret
        consumers = []
        for n in range(CONSUMERS):
            customer = f"{CUSTOMER}_{n}"
            billing.customers.create(email=f"c{n}@example.com", name=f"C{n}", customer_id=customer)
            billing.subscriptions.start(customer, "free")
            billing.quotas.set_override("api", 10**9, mode="hard", customer_id=customer)
            consumers.append(billing.apikeys.create(customer_id=customer).secret)
        return key, consumers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _server(env: dict[str, str], workers: int):  # type: ignore[no-untyped-def]
    port = _free_port()
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nself_billing",
            "tenant",
            "billing",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = asyncio.run(_one(port, b"GET /healthz HTTP/1.1\r\nHost: b\r\n\r\n"))
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or child.poll() is not None:
                raise RuntimeError("the HTTP server did not start")
            time.sleep(0.1)
        yield port
    finally:
        child.terminate()
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


async def _one(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    answer = await _read_answer(reader)
    writer.close()
    return answer


def _post(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: bench",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _load(
    port: int, make_request: Callable[[int], bytes | None], *, connections: int, seconds: float
) -> tuple[int, float, list[float]]:
    """Requests answered 2xx, wall seconds, and per-request latencies (s)."""
    done = 0
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def worker() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < stop_at:
            request = make_request(next(counter))
            if request is None:  # out of prepared requests: stop early
                break
            sent = time.perf_counter()
            writer.write(request)
            status, body = await _read_answer(reader)
            if not 200 <= status < 300:
                raise RuntimeError(f"HTTP {status}: {body[:200]!r}")
            latencies.append(time.perf_counter() - sent)
            done += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return done, time.perf_counter() - started, latencies


#: replays the prepared requests of REQUESTS_FILE (separated by NUL bytes, which HTTP/1.1 heads
#: and JSON bodies cannot contain) in order, once (or cycling), and counts non-2xx answers
_WRK_SCRIPT = """
local path, cycle = %(path)s, %(cycle)s
local requests, n = {}, 0
local threads = {}
bad = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  local at = 1
  while true do
    local stop = string.find(data, "\\0", at, true)
    if not stop then break end
    requests[#requests + 1] = string.sub(data, at, stop - 1)
    at = stop + 1
  end
end

function request()
  n = n + 1
  if n > #requests then
    if not cycle then wrk.thread:stop() end
    n = 1
  end
  return requests[n]
end

function response(status, headers, body)
  if status < 200 or status > 299 then bad = bad + 1 end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + thread:get("bad") end
  local e = summary.errors
  io.write(string.format("NSELF_WRK %%d %%d %%d %%d %%d\\n", summary.requests, failed,
    summary.duration, latency:percentile(99), e.connect + e.read + e.write + e.timeout))
end
"""


def _generator(*, wrk: bool = True) -> str:
    return "wrk" if wrk and shutil.which("wrk") else "the Python asyncio client"


def _wrk_load(
    port: int, requests: list[bytes], *, connections: int, seconds: float, cycle: bool
) -> tuple[int, float, float]:
    """Requests answered 2xx, wall seconds and p99 latency (ms), replaying ``requests`` with
    wrk (once, stopping early when they run out, or cycling)."""
    with tempfile.TemporaryDirectory() as work:
        data, script = os.path.join(work, "requests"), os.path.join(work, "replay.lua")
        with open(data, "wb") as out:
            for request in requests:
                out.write(request + b"\0")
        with open(script, "w") as out:
            out.write(
                _WRK_SCRIPT % {"path": json.dumps(data), "cycle": "true" if cycle else "false"}
            )
        result = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                script,
                f"http://127.0.0.1:{port}/",
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        )
    line = next(line for line in result.stdout.splitlines() if line.startswith("NSELF_WRK "))
    answered, failed, micros, p99_us, socket_errors = (int(f) for f in line.split()[1:])
    if failed or socket_errors:
        raise RuntimeError(
            f"{failed} non-2xx answers, {socket_errors} socket errors:\n" + result.stdout
        )
    return answered, micros / 1e6, p99_us / 1000


def _replay(
    port: int,
    requests: list[bytes],
    *,
    connections: int,
    seconds: float,
    cycle: bool,
    wrk: bool = True,
) -> tuple[int, float, float]:
    """Requests answered 2xx, wall seconds and p99 latency (ms): ``requests`` sent over
    ``connections`` keep-alive connections for ``seconds``, in order, once (stopping early when
    they run out) or cycling, by wrk when installed (and ``wrk``), else by the asyncio
    client."""
    if wrk and shutil.which("wrk"):
        return _wrk_load(port, requests, connections=connections, seconds=seconds, cycle=cycle)
    count = len(requests)
    done, wall, latencies = asyncio.run(
        _load(
            port,
            lambda n: requests[n % count] if cycle or n < count else None,
            connections=connections,
            seconds=seconds,
        )
    )
    return done, wall, _p99_ms(latencies)


def _p99_ms(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000 if ordered else 0.0


def _ingestion(port: int, key: str, *, batch: int, seconds: float) -> tuple[float, float]:
    auth = {"Authorization": f"Bearer {key}"}
    run = uuid.uuid4().hex[:8]

    def request(n: int) -> bytes:
        events = [
            {
                "service": "api",
                "quantity": 1,
                "id": f"{run}-{n}-{i}",
                "metadata": {"endpoint": "/api/users", "method": "GET", "status": 200},
            }
            for i in range(batch)
        ]
        return _post("/v1/usage", json.dumps({"events": events}).encode(), auth)

    # bodies are built before the clock starts (the client must not be the bottleneck),
    # enough for 80,000 events/s; every event id is new
    bodies = [request(n) for n in range(int(seconds * 80_000 / batch) + 8)]
    # a few large requests a second: the client's cost per request does not matter, and the
    # asyncio client measured a steadier rate than wrk on these 100 KB bodies
    done, wall, p99 = _replay(port, bodies, connections=4, seconds=seconds, cycle=False, wrk=False)
    return done * batch / wall, p99


def _consume(port: int, keys: list[str], *, seconds: float) -> tuple[float, float]:
    requests = [
        _post("/v1/quota/api/consume", b'{"quantity": 1}', {"Authorization": f"Bearer {key}"})
        for key in keys
    ]
    done, wall, p99 = _replay(
        port, requests, connections=2 * len(keys), seconds=seconds, cycle=True
    )
    return done / wall, p99


def _small_usage(port: int, key: str, *, per_request: int, seconds: float) -> tuple[float, float]:
    """``POST /v1/usage`` of one event (or ``per_request`` as ``{"events": [...]}``) over 16
    keep-alive connections, as a backend reports each API call it served; every id is new.
    Requests/s and p99 (ms)."""
    auth = {"Authorization": f"Bearer {key}"}
    run = uuid.uuid4().hex[:8]
    body = {"service": "api", "quantity": 1, "metadata": {"endpoint": "/api/users"}}

    def request(n: int) -> bytes:
        if per_request == 1:
            return _post("/v1/usage", json.dumps({**body, "id": f"{run}-{n}"}).encode(), auth)
        events = [{**body, "id": f"{run}-{n}-{i}"} for i in range(per_request)]
        return _post("/v1/usage", json.dumps({"events": events}).encode(), auth)

    # prepared before the clock starts, enough for 20,000 requests/s (one event) or
    # 60,000 events/s (ten)
    count = int(seconds * (20_000 if per_request == 1 else 60_000 / per_request)) + 64
    bodies = [request(n) for n in range(count)]
    done, wall, p99 = _replay(
        port, bodies, connections=SMALL_CONNECTIONS, seconds=seconds, cycle=False
    )
    return done / wall, p99


def _get(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: bench", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read(port: int, path: str, keys: list[str], *, seconds: float) -> tuple[float, float]:
    """GET ``path`` over 16 keep-alive connections, cycling over the customers' ``keys``
    (none: no Authorization header)."""
    requests = [_get(path, {"Authorization": f"Bearer {key}"}) for key in keys] or [_get(path, {})]
    done, wall, p99 = _replay(
        port, requests, connections=READ_CONNECTIONS, seconds=seconds, cycle=True
    )
    return done / wall, p99


def _webhooks(port: int, *, seconds: float) -> tuple[float, float]:
    import stripe

    run = uuid.uuid4().hex[:8]
    # every delivery is a new event (a replay would be a duplicate): enough for 3,000/s
    count = int(seconds * 3000) + 64

    def request(n: int) -> bytes:
        payload = json.dumps(
            {
                "id": f"evt_{run}_{n}",
                "object": "event",
                "type": "customer.updated",
                "created": int(time.time()),
                "api_version": "2025-01-27.acacia",
                "livemode": False,
                "data": {
                    "object": {
                        "id": f"{CUSTOMER}_w{n % WEBHOOK_OBJECTS}",
                        "object": "customer",
                        "email": "bench@example.com",
                        "name": f"Bench {n}",
                    }
                },
            }
        )
        header = stripe.WebhookSignature.generate_signature_header(payload, SECRET)
        return _post("/api/webhooks/stripe", payload.encode(), {"Stripe-Signature": header})

    bodies = [request(n) for n in range(count)]
    done, wall, p99 = _replay(port, bodies, connections=8, seconds=seconds, cycle=False)
    return done / wall, p99


def _median_of(rounds: int, phase: Callable[[], tuple[float, float]]) -> tuple[float, float, str]:
    """The median rate of ``rounds`` runs of ``phase``, the p99 of that run, and the spread
    (the machine is shared: one run says little)."""
    runs = sorted((phase() for _ in range(rounds)), key=lambda run: run[0])
    rate, p99 = runs[len(runs) // 2]
    spread = (
        f"median of {rounds} runs of {ROUND_SECONDS:.0f} s ({runs[0][0]:,.0f}-{runs[-1][0]:,.0f})"
        if rounds > 1
        else "one run"
    )
    return rate, p99, spread


def _measure(
    env: dict[str, str], backend: str, *, smoke: bool, notify: bool = False
) -> list[dict[str, Any]]:
    if notify:
        with _endpoints(env):
            rows = _measure(env, backend, smoke=smoke)
        for row in rows:
            row["name"] += ", 2 notification endpoints (1 down)"
            row["notes"] += "; the same with two notification endpoints, one of them down"
        return rows
    key, consumers = _prepare(env)
    seconds = 1.0 if smoke else ROUND_SECONDS
    rounds = 1 if smoke else ROUNDS
    workers = 1 if smoke else 2
    batch = 100 if smoke else 1000
    prefix = "pg" if backend == "PostgreSQL" else "sqlite"
    load = f"{workers} worker(s), load from {_generator()}"
    python_load = f"{workers} worker(s), load from {_generator(wrk=False)}"
    rows: list[dict[str, Any]] = []
    with _server(env, workers) as port:
        rate, p99, spread = _median_of(
            rounds, lambda: _ingestion(port, key, batch=batch, seconds=seconds)
        )
        rows.append(
            {
                "name": f"batched usage ingestion, POST /v1/usage x{batch} ({backend})",
                "value": rate,
                "unit": "events/s",
                "target": "≥ 20,000 events/s",
                "baseline": f"{prefix}_copy_batch_event_per_s"
                if prefix == "pg"
                else f"{prefix}_batch1000_event_per_s",
                "notes": f"{spread}, {python_load}, 4 connections, p99 {p99:.0f} ms/batch",
            }
        )
        rate, p99, spread = _median_of(rounds, lambda: _consume(port, consumers, seconds=seconds))
        rows.append(
            {
                "name": f"quota consume, POST /v1/quota/api/consume ({backend})",
                "value": rate,
                "unit": "requests/s",
                "target": "≥ 3,000 requests/s",
                "baseline": f"{prefix}_single_event_per_s",
                "notes": f"{spread}, {load}, {2 * CONSUMERS} connections over "
                f"{CONSUMERS} "
                f"customers with a hard limit, each answer after the commit, "
                f"p99 {p99:.1f} ms",
            }
        )
        consume_rate = rate
        rows += _small_rows(port, key, backend, consume_rate, rounds=rounds, seconds=seconds)
        for path in READS:
            rate, p99, spread = _median_of(
                rounds, lambda path=path: _read(port, path, consumers, seconds=seconds)
            )
            if path == "/v1/quota/api":
                target = f"≥ consume of this run ({consume_rate:,.0f})"
            else:
                target = f"≥ half of consume of this run ({consume_rate / 2:,.0f})"
            rows.append(
                {
                    "name": f"read, GET {path} ({backend})",
                    "value": rate,
                    "unit": "requests/s",
                    "target": target,
                    "baseline": None,
                    "notes": f"{spread}, {load}, {READ_CONNECTIONS} connections over "
                    f"{CONSUMERS} customers, p99 {p99:.1f} ms",
                }
            )
        rate, p99, spread = _median_of(rounds, lambda: _read(port, "/healthz", [], seconds=seconds))
        rows.append(
            {
                "name": f"liveness, GET /healthz ({backend})",
                "value": rate,
                "unit": "requests/s",
                "target": f"≥ 10x {HEALTHZ_BEFORE[backend]:,.0f} (before, issue 15)",
                "baseline": None,
                "notes": f"{spread}, {load}, {READ_CONNECTIONS} connections, no database "
                f"round trip (readiness is /readyz), p99 {p99:.1f} ms",
            }
        )
        rate, p99, spread = _median_of(rounds, lambda: _webhooks(port, seconds=seconds))
        rows.append(
            {
                "name": f"Stripe webhook deliveries, signed ({backend})",
                "value": rate,
                "unit": "events/s",
                "target": "≥ 500 events/s",
                "baseline": f"{prefix}_single_event_per_s",
                "notes": f"{spread}, {load}, 8 connections, customer.updated over "
                f"{WEBHOOK_OBJECTS} customers, each verified, stored and applied "
                f"in one commit before its 2xx, p99 {p99:.1f} ms",
            }
        )
    return rows


def _small_rows(
    port: int,
    key: str,
    backend: str,
    consume_rate: float,
    *,
    rounds: int,
    seconds: float,
    label: str = "",
) -> list[dict[str, Any]]:
    """The one-event and ten-event ``POST /v1/usage`` rows, beside consume of the same run."""
    rows: list[dict[str, Any]] = []
    for per_request in (1, 10):
        rate, p99, spread = _median_of(
            rounds,
            lambda per_request=per_request: _small_usage(
                port, key, per_request=per_request, seconds=seconds
            ),
        )
        what = "one event" if per_request == 1 else f"{per_request} events"
        if per_request == 1:
            target = f"≥ consume of this run ({consume_rate:,.0f}); p99 < 50 ms" + (
                "; ≥ 10,000 requests/s" if backend == "PostgreSQL" else ""
            )
        else:
            target = "≥ 30,000 events/s; p99 < 50 ms"
        rows.append(
            {
                "name": f"usage, POST /v1/usage, {what} a request{label} ({backend})",
                "value": rate * per_request,
                "unit": "requests/s" if per_request == 1 else "events/s",
                "target": target,
                "baseline": None,
                "notes": f"{spread}, load from {_generator()}, {SMALL_CONNECTIONS} connections,"
                f" {rate:,.0f} requests/s, {rate / consume_rate:.2f}x consume of this run,"
                f" each answer after the commit, p99 {p99:.1f} ms",
            }
        )
    return rows


def compare(pg_url: str | None, before_src: str, *, rounds: int, seconds: float) -> None:
    """Old against new in the same run (the machine is shared: figures of two runs do not
    compare): consume and the one-event and ten-event rows on a server of ``before_src`` (a
    checkout of an earlier commit), then on one of this tree, per backend.

        python benchmarks/bench_http.py --before /tmp/old-checkout [--rounds 3] [--seconds 3]
    """
    backends: list[tuple[str, str | None]] = [("SQLite", None)]
    if pg_url:
        backends.append(("PostgreSQL", pg_url))
    for backend, admin in backends:
        for tree, src in (("before", before_src), ("after", None)):
            with contextlib.ExitStack() as stack:
                root = stack.enter_context(tempfile.TemporaryDirectory())
                url = stack.enter_context(scratch_pg_database(admin)) if admin else None
                env = _env(root, url)
                if src is not None:
                    env["PYTHONPATH"] = os.path.join(src, "src")
                    # the old tree creates its own schema (it refuses a newer one)
                    key, consumers = _prepare_in_child(env)
                else:
                    key, consumers = _prepare(env)
                port = stack.enter_context(_server(env, 2))
                rate, p99, spread = _median_of(
                    rounds,
                    lambda port=port, consumers=consumers: _consume(
                        port, consumers, seconds=seconds
                    ),
                )
                print(
                    f"{backend} {tree}: consume {rate:,.0f} requests/s, p99 {p99:.1f} ms ({spread})"
                )
                for row in _small_rows(port, key, backend, rate, rounds=rounds, seconds=seconds):
                    print(
                        f"{backend} {tree}: {row['name']}: {row['value']:,.0f} {row['unit']};"
                        f" {row['notes']}"
                    )


def _prepare_in_child(env: dict[str, str]) -> tuple[str, list[str]]:
    """``_prepare`` in a child process with ``env`` (its PYTHONPATH: the tree measured)."""
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import bench_http;"
        " print(json.dumps(bench_http._prepare(json.loads(sys.argv[2]))))"
    )
    here = os.path.dirname(os.path.abspath(__file__))
    result = subprocess.run(
        [sys.executable, "-c", script, here, json.dumps(env)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key, consumers = json.loads(result.stdout.strip().splitlines()[-1])
    return key, consumers


def run(*, smoke: bool, pg_url: str | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for notify in (False, True):
        # SQLite in every run (issue 15 wants both backends' figures); its pass with
        # notification endpoints only in the smoke or without PostgreSQL (the full run's time)
        if smoke or not pg_url or not notify:
            with tempfile.TemporaryDirectory() as root:
                rows += _measure(_env(root, None), "SQLite", smoke=smoke, notify=notify)
        if pg_url:
            with scratch_pg_database(pg_url) as url, tempfile.TemporaryDirectory() as root:
                rows += _measure(_env(root, url), "PostgreSQL", smoke=smoke, notify=notify)
    return rows


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="old against new: consume and small usage")
    parser.add_argument("--before", required=True, help="a checkout of the earlier commit")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    ROUND_SECONDS = args.seconds
    compare(None if args.no_pg else args.pg, args.before, rounds=args.rounds, seconds=args.seconds)
