"""The HTTP service under loopback load: batched usage ingestion (events/s), quota consume
(requests/s) and Stripe webhook deliveries (events/s).

The server runs as a user runs it (``nself tenant billing serve --workers N``) in child
processes; the load comes from this process through a minimal asyncio HTTP/1.1 keep-alive
client (a general-purpose client would spend more CPU than the server on this 2-core machine).
Every phase is bounded in time; every answer is checked to be a 2xx.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import tempfile
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


def _env(root: str, db_url: str | None) -> dict[str, str]:
    return bench_env(root, db_url, STRIPE_WEBHOOK_SECRET=SECRET)


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
            billing.customers.create(email=f"c{n}@example.com", name=f"C{n}",
                                     customer_id=customer)
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
        [sys.executable, "-m", "nself_billing", "tenant", "billing", "serve", "--port",
         str(port), "--workers", str(workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
    lines = [f"POST {path} HTTP/1.1", "Host: bench", "Content-Type: application/json",
             f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _load(port: int, make_request: Callable[[int], bytes | None], *, connections: int,
                seconds: float) -> tuple[int, float, list[float]]:
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


def _p99_ms(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000 if ordered else 0.0


def _ingestion(port: int, key: str, *, batch: int, seconds: float, tag: str
               ) -> tuple[float, float]:
    auth = {"Authorization": f"Bearer {key}"}
    run = uuid.uuid4().hex[:8]

    def request(n: int) -> bytes:
        events = [{"service": "api", "quantity": 1, "id": f"{run}-{n}-{i}",
                   "metadata": {"endpoint": "/api/users", "method": "GET", "status": 200}}
                  for i in range(batch)]
        return _post("/v1/usage", json.dumps({"events": events}).encode(), auth)

    # bodies are built before the clock starts (the client must not be the bottleneck),
    # enough for 80,000 events/s; every event id is new
    bodies = [request(n) for n in range(int(seconds * 80_000 / batch) + 8)]
    done, wall, latencies = asyncio.run(_load(
        port, lambda n: bodies[n] if n < len(bodies) else None, connections=4,
        seconds=seconds))
    del tag
    return done * batch / wall, _p99_ms(latencies)


def _consume(port: int, keys: list[str], *, seconds: float) -> tuple[float, float]:
    requests = [_post("/v1/quota/api/consume", b'{"quantity": 1}',
                      {"Authorization": f"Bearer {key}"}) for key in keys]
    done, wall, latencies = asyncio.run(_load(
        port, lambda n: requests[n % len(requests)], connections=2 * len(keys),
        seconds=seconds))
    return done / wall, _p99_ms(latencies)


def _webhooks(port: int, *, seconds: float) -> tuple[float, float]:
    import stripe

    run = uuid.uuid4().hex[:8]
    count = int(seconds * 1500) + 64

    def request(n: int) -> bytes:
        payload = json.dumps({
            "id": f"evt_{run}_{n}", "object": "event", "type": "customer.updated",
            "created": int(time.time()), "api_version": "2025-01-27.acacia", "livemode": False,
            "data": {"object": {"id": f"{CUSTOMER}_w{n % WEBHOOK_OBJECTS}",
                                "object": "customer", "email": "bench@example.com",
                                "name": f"Bench {n}"}}})
        header = stripe.WebhookSignature.generate_signature_header(payload, SECRET)
        return _post("/api/webhooks/stripe", payload.encode(), {"Stripe-Signature": header})

    bodies = [request(n) for n in range(count)]
    done, wall, latencies = asyncio.run(_load(
        port, lambda n: bodies[n] if n < len(bodies) else None, connections=8,
        seconds=seconds))
    return done / wall, _p99_ms(latencies)


def _measure(env: dict[str, str], backend: str, *, smoke: bool) -> list[dict[str, Any]]:
    key, consumers = _prepare(env)
    seconds = 1.0 if smoke else 6.0
    workers = 1 if smoke else 2
    batch = 100 if smoke else 1000
    rows: list[dict[str, Any]] = []
    with _server(env, workers) as port:
        rate, p99 = _ingestion(port, key, batch=batch, seconds=seconds, tag=backend)
        rows.append({"name": f"batched usage ingestion, POST /v1/usage x{batch} ({backend})",
                     "value": rate, "unit": "events/s", "target": "≥ 20,000 events/s",
                     "baseline": None,
                     "notes": f"{workers} worker(s), 4 connections, p99 {p99:.0f} ms/batch"})
        rate, p99 = _consume(port, consumers, seconds=seconds)
        rows.append({"name": f"quota consume, POST /v1/quota/api/consume ({backend})",
                     "value": rate, "unit": "requests/s", "target": "≥ 3,000 requests/s",
                     "baseline": None,
                     "notes": f"{workers} worker(s), {2 * CONSUMERS} connections over "
                              f"{CONSUMERS} customers with a hard limit, p99 {p99:.1f} ms"})
        rate, p99 = _webhooks(port, seconds=seconds)
        rows.append({"name": f"Stripe webhook deliveries, signed ({backend})", "value": rate,
                     "unit": "events/s", "target": "≥ 500 events/s", "baseline": None,
                     "notes": f"{workers} worker(s), 8 connections, customer.updated over "
                              f"{WEBHOOK_OBJECTS} customers, p99 {p99:.1f} ms"})
    return rows


def run(*, smoke: bool, pg_url: str | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if smoke or not pg_url:
        with tempfile.TemporaryDirectory() as root:
            rows += _measure(_env(root, None), "SQLite", smoke=smoke)
    if pg_url:
        with scratch_pg_database(pg_url) as url, tempfile.TemporaryDirectory() as root:
            rows += _measure(_env(root, url), "PostgreSQL", smoke=smoke)
    return rows
