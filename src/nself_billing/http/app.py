"""The ASGI app factory. Everything the app needs arrives in ``billing``; nothing is global."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from ..billing import Billing
from ..services.ingest import SMALL_REQUEST_MAX, IngestRequest, IngestResult
from . import errors
from .consume_group import IN_FLIGHT, ConsumeGroups, WriteGroups, WriteMany, in_threads
from .fastpath import FastPaths, UsageEndpoint, answer_liveness, is_liveness, is_usage_post
from .limits import RequestDeadline
from .metrics import RequestMetrics, request_logging_enabled
from .routes import account, health, metrics, portal, quota, reports, usage, webhooks
from .threads import Threads

#: seconds a verified API key is reused without a database read (see ApiKeyService)
AUTH_CACHE_SECONDS = 1.0


def _events_of(request: IngestRequest) -> int:
    return len(request.events)


def _usage_writer(billing: Billing, blocking: Threads) -> WriteMany[IngestRequest, IngestResult]:
    """How a group of small usage requests is written, chosen here only: on PostgreSQL by the
    event loop itself over its own connections (no thread hand-off: docs/HTTP.md, "The group
    write on the event loop"), else (SQLite, whose writes block) in a thread."""
    ingest = billing.ingest
    if not ingest.writes_on_loop:
        return in_threads(ingest.ingest_many, blocking)

    async def on_loop(requests: list[IngestRequest]) -> list[IngestResult | Exception]:
        return await ingest.ingest_many_on_loop(requests, in_thread=blocking.run)

    return on_loop


class BillingApp(FastAPI):
    """FastAPI, answering liveness (``GET /healthz``) before any of its layers: it reads
    nothing and cannot fail, and FastAPI's per-request work (telemetry checks, middleware)
    would be most of its cost; and ``POST /v1/usage`` (``usage``: the request metrics and the
    deadline around ``http.fastpath.UsageEndpoint``), the endpoint called once per API call
    a backend serves."""

    usage: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_liveness(scope):
            await answer_liveness(send)
            return
        if self.usage is not None and is_usage_post(scope):
            await self.usage(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    billing: Billing, *, auth_cache_seconds: float = AUTH_CACHE_SECONDS, threads: int | None = None
) -> FastAPI:
    """The HTTP service over ``billing`` (which the caller keeps and closes).

    ``threads``: how many requests of this process may run their blocking part (database work)
    at once, the others waiting their turn; by default the size of the database connection
    pool (see ``http.threads``)."""
    billing.apikeys.auth_cache_seconds = auth_cache_seconds
    settings = billing.settings
    # a request must not hang behind a lock: the database gives up before the deadline
    billing.set_db_timeouts(statement=settings.db_statement_timeout, lock=settings.db_lock_timeout)
    if billing.settings.stripe_webhook_secret is not None:
        billing.preload_webhook_verifier()
    blocking = Threads(threads or billing.diagnostics.pool_counts()[1])

    request_logs: list[RequestMetrics] = []

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await billing.close_loop_connections()
        blocking.close()
        for middleware in request_logs:
            middleware.flush()  # the request lines of the last milliseconds

    app = BillingApp(
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        title="nself-billing",
        version=version("nself-billing"),
        description="Usage ingestion, quotas, subscriptions, invoices and the Stripe webhook "
        "receiver of nself-billing. Authenticate with `Authorization: Bearer <key>` "
        "(keys from `nself tenant billing apikey create`).",
    )
    app.state.billing = billing
    app.state.threads = blocking
    app.state.consume_groups = ConsumeGroups(billing.quotas, blocking)
    # small POST /v1/usage requests, grouped up to the events one statement writes best
    app.state.usage_groups = WriteGroups(
        _usage_writer(billing, blocking),
        max_group=SMALL_REQUEST_MAX,
        weight=_events_of,
        # SQLite has one writer at a time across every worker: a second group in flight only
        # waits in SQLite's busy handler, which sleeps and polls instead of queueing
        in_flight=1 if billing.ingest.one_writer else IN_FLIGHT,
    )
    errors.install(app)
    app.add_middleware(FastPaths)
    app.add_middleware(RequestDeadline, seconds=settings.http_request_timeout)
    # outermost: counts, times and logs every request, the fast paths' too
    log_requests = request_logging_enabled(billing.settings.log_level)
    app.add_middleware(RequestMetrics, log_requests=log_requests, on_create=request_logs.append)
    app.usage = RequestMetrics(
        RequestDeadline(UsageEndpoint(app.state), seconds=settings.http_request_timeout),
        log_requests=log_requests,
        on_create=request_logs.append,
    )
    for router in (
        health.router,
        usage.router,
        reports.router,
        reports.invoices_router,
        quota.router,
        account.router,
        webhooks.router,
        portal.router,
        metrics.router,
    ):
        app.include_router(router)
    offline_docs(app)
    return app


#: where /docs serves Swagger UI's own files from
DOCS_ASSETS = "/docs/assets"


def offline_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI served from the installed ``swagger-ui-py`` package's files
    (FastAPI's default page loads them from a CDN, so it is blank without internet)."""
    from importlib.util import find_spec
    from pathlib import Path

    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    spec = find_spec("swagger_ui")
    assert spec is not None and spec.origin is not None, "swagger-ui-py is a dependency"
    app.mount(DOCS_ASSETS, StaticFiles(directory=Path(spec.origin).parent / "static"), name="docs")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )


def app_from_env() -> FastAPI:
    """The app over ``Billing.from_env()``: the factory each uvicorn worker process calls."""
    return create_app(Billing.from_env())
