"""Prometheus metrics and one JSON log line per request.

Counters and histograms live in ``prometheus_client``; with ``PROMETHEUS_MULTIPROC_DIR`` set
(``serve`` sets it to a fresh directory) each worker process writes its values to files there
and ``GET /metrics`` adds up every worker's. What the database knows (outbox depth and age,
cycle runs, endpoints) is read when scraped. ``RequestMetrics`` wraps the whole app, the fast
paths included: a request costs two clock reads, a counter, a histogram observation and, at
``NSELF_LOG_LEVEL`` info or debug, its JSON line, written to stderr with the other lines of
the same 50 ms (a kill -9 loses at most those).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _quoted
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from ..billing import Billing

#: request log lines are written at most this long after their request ended, several at once
LOG_FLUSH_SECONDS = 0.05
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: where a fast path (``http.fastpath``) records the route it answered
ROUTE_KEY = "nself_route"
#: the customer a request acted on, for its log line
CUSTOMER_KEY = "nself_customer"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "nself_billing_http_requests",
    "HTTP requests by route, method and status.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "nself_billing_http_request_duration_seconds",
    "HTTP request latency by route.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
CONSUMES = Counter(
    "nself_billing_consumes",
    "Atomic consumes by service and outcome (admitted, blocked).",
    ["service", "outcome"],
    registry=REGISTRY,
)
EVENTS_INGESTED = Counter(
    "nself_billing_events_ingested",
    "Usage events recorded through POST /v1/usage (replays not counted).",
    registry=REGISTRY,
)
WEBHOOKS = Counter(
    "nself_billing_webhooks_received",
    "Stripe webhook deliveries by outcome (applied, ignored, duplicate, rejected ...).",
    ["outcome"],
    registry=REGISTRY,
)


class DatabaseCollector(Collector):
    """Gauges read from the database at scrape time (any worker gives the same answer)."""

    def __init__(self, billing: Billing) -> None:
        self._billing = billing

    def collect(self) -> Iterable[Metric]:
        gauges = self._billing.diagnostics.gauges()
        usage_pending, usage_oldest = gauges.usage_pending, gauges.usage_oldest
        notify_pending, notify_oldest = gauges.notify_pending, gauges.notify_oldest
        runs, last_run = gauges.cycle_runs, gauges.last_cycle_run
        now = datetime.now(UTC)
        depth = GaugeMetricFamily(
            "nself_billing_outbox_pending", "Deliveries waiting in an outbox.", labels=["outbox"]
        )
        age = GaugeMetricFamily(
            "nself_billing_outbox_oldest_age_seconds",
            "Age of the oldest waiting delivery of an outbox (0 when empty).",
            labels=["outbox"],
        )
        for name, count, oldest in (
            ("stripe_usage", usage_pending, usage_oldest),
            ("notifications", notify_pending, notify_oldest),
        ):
            depth.add_metric([name], int(count))
            age.add_metric([name], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
        yield depth
        yield age
        by_status: dict[str, int] = {"enabled": 0, "disabled": 0}
        for status in gauges.endpoint_statuses:
            by_status[status] = by_status.get(status, 0) + 1
        endpoint_gauge = GaugeMetricFamily(
            "nself_billing_notify_endpoints", "Notification endpoints by status.", labels=["status"]
        )
        for status, count in sorted(by_status.items()):
            endpoint_gauge.add_metric([status], count)
        yield endpoint_gauge
        cycle_runs = GaugeMetricFamily(
            "nself_billing_cycle_runs", "Period-close runs recorded (cycle), all processes."
        )
        cycle_runs.add_metric([], runs)
        yield cycle_runs
        last = GaugeMetricFamily(
            "nself_billing_cycle_last_run_timestamp_seconds",
            "When the last cycle run finished (Unix time; 0 if never).",
        )
        last.add_metric([], last_run.timestamp() if last_run else 0.0)
        yield last
        checked_out, size = self._billing.diagnostics.pool_counts()
        in_use = GaugeMetricFamily(
            "nself_billing_db_pool_connections",
            "Database pool connections of the scraped worker, by state.",
            labels=["state"],
        )
        in_use.add_metric(["checked_out"], float(checked_out))
        in_use.add_metric(["size"], float(size))
        yield in_use


def exposition(billing: Billing) -> bytes:
    """The text of ``GET /metrics``: every worker's counters, and the database's gauges."""
    from prometheus_client import generate_latest

    database = CollectorRegistry()
    database.register(DatabaseCollector(billing))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client.multiprocess import MultiProcessCollector

        workers = CollectorRegistry()
        MultiProcessCollector(workers)  # type: ignore[no-untyped-call]
        return generate_latest(workers) + generate_latest(database)
    return generate_latest(REGISTRY) + generate_latest(database)


def request_logging_enabled(level: str) -> bool:
    return level in ("debug", "info")


class RequestMetrics:
    """Outermost middleware: counts and times every request, echoes (or makes) its
    ``X-Request-Id`` and writes its JSON line.

    It runs for every consume, so it is written for a few microseconds: labelled children are
    looked up once per (route, method, status), request ids are a per-process random prefix
    and a counter (unique without a system call per request), and the log line is formatted
    directly, with only the values that may need it JSON-escaped."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        log_requests: bool,
        write: Callable[[str], Any] | None = None,
        on_create: Callable[[RequestMetrics], Any] | None = None,
    ) -> None:
        self.app = app
        self.log_requests = log_requests
        self._write = write or _stderr
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[str, Any] = {}
        self._prefix = secrets.token_hex(6)
        self._sequence = itertools.count(1)
        self._second = -1
        self._stamp = ""
        self._pending: list[str] = []
        self._flush_scheduled = False
        if on_create is not None:
            on_create(self)  # the app flushes the last lines at shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _given_request_id(scope) or f"{self._prefix}{next(self._sequence):08x}"
        header = (b"x-request-id", request_id.encode())
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route(scope)
            method = scope["method"]
            key = (route, method, status)
            counter = self._counters.get(key)
            if counter is None:
                counter = self._counters[key] = REQUESTS.labels(route, method, str(status))
            counter.inc()
            histogram = self._histograms.get(route)
            if histogram is None:
                histogram = self._histograms[route] = LATENCY.labels(route)
            histogram.observe(elapsed)
            if self.log_requests:
                customer = scope.get(CUSTOMER_KEY)
                self._pending.append(
                    f'{{"time":"{self._time()}","level":"info","event":"http.request",'
                    f'"request_id":"{request_id}","method":{_quoted(method)},'
                    f'"route":{_quoted(route)},"path":{_quoted(scope["path"][:200])},'
                    f'"status":{status},"ms":{elapsed * 1000:.3f},'
                    f'"customer":{"null" if customer is None else _quoted(customer)}}}\n'
                )
                if not self._flush_scheduled:
                    self._flush_scheduled = True
                    asyncio.get_running_loop().call_later(LOG_FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        """Write the lines of the last few milliseconds in one ``write``: one system call per
        request cost more than the rest of this middleware together."""
        self._flush_scheduled = False
        lines, self._pending = self._pending, []
        if lines:
            self._write("".join(lines))

    def _time(self) -> str:
        """ISO 8601 UTC with milliseconds; the part up to the second is made once a second."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int((now - second) * 1000):03d}Z"


def _stderr(line: str) -> None:
    """The process's stderr as it is now (looked up per line: a test or a supervisor may
    replace it); a log that cannot be written never fails the request."""
    try:
        sys.stderr.write(line)
    except (OSError, ValueError):
        pass


def _given_request_id(scope: Scope) -> str | None:
    """The caller's X-Request-Id, if it is one we can echo safely."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            return text if _REQUEST_ID.match(text) else None
    return None


def _route(scope: Scope) -> str:
    """The route template, never the raw path (bounded label values)."""
    fast = scope.get(ROUTE_KEY)
    if fast is not None:
        return str(fast)
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"
