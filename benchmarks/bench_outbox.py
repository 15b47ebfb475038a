"""Usage outbox drain: events/s from the database to a fake Stripe over loopback HTTP.

The fake answers the v2 meter event session and meter event stream the way Stripe does
(HTTP/1.1 keep-alive, ``{}`` on success) and counts distinct identifiers, so the figure also
checks that every event arrived exactly once. The outbox rows are written directly (setup, not
measured); the drain runs as ``nself tenant billing sync`` runs it: the real SDK (its default
HTTP client), batches of 100 events per request, one write transaction per acknowledged batch.
Stripe's own limit for the stream is 10,000 events/s in live mode (docs.stripe.com/rate-limits).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from scratch import scratch_pg_database

#: the fake Stripe, run in its own process (as Stripe would be) so that it does not share the
#: drainer's interpreter lock; GET /stats reports what it received
_SERVER = r"""
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

identifiers, counts, lock = set(), {"events": 0, "requests": 0}, threading.Lock()
session = json.dumps({"id": "mes_bench", "object": "v2.billing.meter_event_session",
                      "authentication_token": "tok_bench", "livemode": False,
                      "expires_at": "2099-01-01T00:00:00.000Z"}).encode()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms
    disable_nagle_algorithm = True

    def _answer(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Request-Id", "req_bench")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            self._answer(json.dumps({"distinct": len(identifiers), **counts}).encode())

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.endswith("/meter_event_session"):
            return self._answer(session)
        ids = [e["identifier"] for e in json.loads(body)["events"]]
        with lock:
            identifiers.update(ids)
            counts["events"] += len(ids)
            counts["requests"] += 1
        self._answer(b"{}")

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@contextmanager
def fake_stripe() -> Iterator[str]:
    child = subprocess.Popen([sys.executable, "-c", _SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        child.terminate()
        child.wait(timeout=10)


def _stats(base: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{base}/stats", timeout=10) as response:
        return dict(json.loads(response.read()))


def _drain(n: int, root: str, db_url: str | None) -> tuple[float, int, int]:
    from nself_billing import Billing
    from nself_billing.store.outbox import OutboxUsage, enqueue_records

    with fake_stripe() as base:
        env = {
            "NSELF_ROOT": root,
            "STRIPE_SECRET_KEY": "sk_test_bench",
            "STRIPE_API_BASE": f"{base}/v1",
        }
        if db_url:
            env["BILLING_DATABASE_URL"] = db_url
        billing = Billing.from_env(env)
        try:
            start = datetime.now(UTC) - timedelta(hours=1)
            with billing.context.db.write() as conn:
                for chunk in range(0, n, 10_000):
                    enqueue_records(
                        conn,
                        (
                            OutboxUsage(
                                customer_id=f"cus_bench{i % 100:03d}",
                                service="api",
                                quantity_micros=1_000_000,
                                recorded_at=start + timedelta(milliseconds=i),
                                idempotency_key=f"bench-{i}",
                            )
                            for i in range(chunk, min(n, chunk + 10_000))
                        ),
                    )
            started = time.perf_counter()
            result = billing.outbox.drain()
            seconds = time.perf_counter() - started
        finally:
            billing.close()
        seen = _stats(base)
        if result.sent != n or seen["distinct"] != n:
            raise RuntimeError(
                f"drain sent {result.sent}, the fake saw {seen['distinct']} "
                f"distinct of {seen['events']} (expected {n})"
            )
        return seconds, result.requests, seen["events"]


def _row(backend: str, n: int, seconds: float, requests: int) -> dict:
    return {
        "name": f"usage outbox drain to a loopback fake Stripe, {n:,} events ({backend})",
        "value": n / seconds,
        "unit": "events/s",
        "target": "≥ 5,000 events/s",
        "baseline": None,
        "notes": f"{seconds:.2f} s, {requests} stream requests of ≤ 100 events, "
        "every identifier received once",
    }


def run(*, smoke: bool, pg_url: str | None) -> list[dict]:
    n = 2_000 if smoke else 50_000
    rows = []
    with tempfile.TemporaryDirectory() as root:
        seconds, requests, _ = _drain(n, root, None)
        rows.append(_row("SQLite", n, seconds, requests))
    if pg_url:
        with scratch_pg_database(pg_url) as url, tempfile.TemporaryDirectory() as root:
            seconds, requests, _ = _drain(n, root, url)
            rows.append(_row("PostgreSQL", n, seconds, requests))
    return rows


if __name__ == "__main__":
    for row in run(smoke=True, pg_url=None):
        print(f"{row['name']}: {row['value']:,.0f} {row['unit']} ({row['notes']})")
