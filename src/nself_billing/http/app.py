"""The ASGI app factory. Everything the app needs arrives in ``billing``; nothing is global."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI

from ..billing import Billing
from . import errors
from .consume_group import ConsumeGroups
from .fastpath import FastPaths
from .metrics import RequestMetrics, request_logging_enabled
from .routes import account, health, metrics, portal, quota, reports, usage, webhooks
from .threads import Threads

#: seconds a verified API key is reused without a database read (see ApiKeyService)
AUTH_CACHE_SECONDS = 1.0


def create_app(
    billing: Billing, *, auth_cache_seconds: float = AUTH_CACHE_SECONDS, threads: int | None = None
) -> FastAPI:
    """The HTTP service over ``billing`` (which the caller keeps and closes).

    ``threads``: how many requests of this process may run their blocking part (database work)
    at once, the others waiting their turn; by default the size of the database connection
    pool (see ``http.threads``)."""
    billing.apikeys.auth_cache_seconds = auth_cache_seconds
    if billing.settings.stripe_webhook_secret is not None:
        # the webhook receiver verifies with the SDK: import it (~0.4 s of CPU) now, not in
        # the first delivery
        import stripe  # noqa: F401
    blocking = Threads(threads or billing.context.db.engine.pool.size())  # type: ignore[attr-defined]

    request_logs: list[RequestMetrics] = []

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        blocking.close()
        for middleware in request_logs:
            middleware.flush()  # the request lines of the last milliseconds

    app = FastAPI(
        lifespan=lifespan,
        title="nself-billing",
        version=version("nself-billing"),
        description="Usage ingestion, quotas, subscriptions, invoices and the Stripe webhook "
        "receiver of nself-billing. Authenticate with `Authorization: Bearer <key>` "
        "(keys from `nself tenant billing apikey create`).",
    )
    app.state.billing = billing
    app.state.threads = blocking
    app.state.consume_groups = ConsumeGroups(billing.quotas, blocking)
    errors.install(app)
    app.add_middleware(FastPaths)
    # outermost: counts, times and logs every request, the fast paths' too
    app.add_middleware(
        RequestMetrics,
        log_requests=request_logging_enabled(billing.settings.log_level),
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
    return app


def app_from_env() -> FastAPI:
    """The app over ``Billing.from_env()``: the factory each uvicorn worker process calls."""
    return create_app(Billing.from_env())
