"""The one place that wires: settings, database, provider, clock and logging into a
``Context``, the engine of each area chosen once (``services/engines.choose_engines``), and
every use case built once with its collaborators named (``Services``). ``Billing``
(billing.py) is the container the faces hold; ``Billing.from_env`` calls ``build``.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .errors import ConfigError
from .providers.port import PaymentProvider, WebhookFormat
from .services.catalog_startup import plans_file
from .services.context import Clock, Context
from .services.current_customer import CurrentCustomer
from .services.engines import Engines, choose_engines
from .settings import Settings
from .store.clickhouse import ClickHouseEvents
from .store.db import Database, sqlite_read_only, sqlite_url
from .store.migrate import ensure_schema

if TYPE_CHECKING:
    from .services.apikeys import ApiKeyService
    from .services.catalog import PlanService
    from .services.customers import CustomerService
    from .services.demo import DemoServices
    from .services.diagnostics import Diagnostics
    from .services.engines import (
        CustomerEngine,
        CycleEngine,
        InvoiceEngine,
        PaymentMethodEngine,
        PortalEngine,
        SubscriptionEngine,
    )
    from .services.event_shipping import EventService
    from .services.export import ExportService
    from .services.ingest import UsageIngestService
    from .services.invoices import InvoiceService
    from .services.notify import NotifyService
    from .services.payments import PaymentMethodService
    from .services.portal_links import PortalService
    from .services.query import QueryService
    from .services.quotas import QuotaService
    from .services.rollups import RollupService
    from .services.stripe.billing import StripeBillingService
    from .services.stripe.usage_outbox import OutboxService
    from .services.subscriptions import SubscriptionService
    from .services.usage import UsageService
    from .services.usage_report import UsageReports
    from .services.webhook_inbox import WebhookInbox
    from .store.hot_path import UsageReader, WriterGate


def utc_now() -> datetime:
    return datetime.now(UTC)


def build(
    settings: Settings,
    *,
    customer_id: str | None = None,
    clock: Clock | None = None,
    provider: Any = None,
    migrate: bool = True,
) -> Services:
    """Every use case, ready: schema created or upgraded, plans.toml applied when it changed."""
    log = configure_logging(settings)
    events = open_events(settings)
    db = open_database(settings)
    chosen = provider or make_provider(settings)
    if settings.debug:
        debug_database(db, log)
        chosen = LoggedProvider(chosen, log)
    ctx = Context(
        settings=settings,
        db=db,
        provider=chosen,
        clock=clock or utc_now,
        log=log,
        customer_override=customer_id,
        events=events,
        sign_webhook=sign_stripe_webhook,
        webhook_format=stripe_webhook_format,
    )
    services = Services(ctx, choose_engines(chosen))  # local or Stripe, decided here once
    if migrate:
        try:
            ensure_schema(db)
            if events is not None:
                ensure_capture(db)
            if not db.read_only:  # a read-only database is read as it is
                apply_plans_file(services, force=False)
        except BaseException:
            db.dispose()
            raise
    return services


class Services:
    """Every use case, built once with its collaborators named; ``Billing`` holds them.

    Each is built on first use (its module imported then), so a command pays start-up time
    only for what it touches; a use case never builds another, it is given it here. Where a
    use case needs another only on some paths it is given a callable that builds it then.
    """

    def __init__(self, ctx: Context, engines: Engines) -> None:
        self.context = ctx
        self.engines = engines

    # -- shared collaborators -------------------------------------------------------------

    @cached_property
    def current_customer(self) -> CurrentCustomer:
        """The one resolver of the current customer (and its cache)."""
        return CurrentCustomer(self.context)

    @cached_property
    def usage_reader(self) -> UsageReader:
        """The quota hot path's driver connections, shared with the request path's reports."""
        from .store.hot_path import UsageReader

        return UsageReader(self.context.db.engine)

    @cached_property
    def writer_gate(self) -> WriterGate:
        from .store.hot_path import WriterGate

        return WriterGate(self.context.db.engine)

    # -- the use cases, by area -----------------------------------------------------------

    @cached_property
    def plans(self) -> PlanService:
        from .services.catalog import PlanService

        return PlanService(self.context, subscriptions=lambda: self.subscriptions)

    @cached_property
    def customers(self) -> CustomerService:
        from .services.customers import CustomerService, LocalCustomers

        if self.engines.remote:
            from .services.stripe.engines import StripeCustomers

            engine: CustomerEngine = StripeCustomers(self.context, stripe=self.stripe)
        else:
            engine = LocalCustomers(self.context)
        return CustomerService(self.context, current=self.current_customer, engine=engine)

    @cached_property
    def subscriptions(self) -> SubscriptionEngine:
        if self.engines.remote:
            from .services.stripe.subscriptions import StripeSubscriptionService

            return StripeSubscriptionService(self.context, stripe=self.stripe)
        from .services.subscriptions import SubscriptionService

        return SubscriptionService(self.context, cycle=self.cycle)

    @cached_property
    def cycle(self) -> CycleEngine:
        if self.engines.remote:
            from .services.stripe.engines import StripeCycle

            return StripeCycle(self.context)
        from .services.cycle import CycleService

        return CycleService(self.context)

    @cached_property
    def invoices(self) -> InvoiceService:
        from .services.invoices import InvoiceService, LocalInvoices

        if self.engines.remote:
            from .services.stripe.engines import StripeInvoices

            engine: InvoiceEngine = StripeInvoices(self.context, stripe=self.stripe)
        else:
            engine = LocalInvoices(self.context)
        return InvoiceService(self.context, engine=engine)

    @cached_property
    def payment_methods(self) -> PaymentMethodService:
        from .services.payments import LocalPaymentMethods, PaymentMethodService

        if self.engines.remote:
            from .services.stripe.engines import StripePaymentMethods

            engine: PaymentMethodEngine = StripePaymentMethods(self.context, stripe=self.stripe)
        else:
            engine = LocalPaymentMethods(self.context)
        return PaymentMethodService(self.context, engine=engine)

    @cached_property
    def portal(self) -> PortalService:
        from .services.portal_links import LocalPortal, PortalService

        if self.engines.remote:
            from .services.stripe.engines import StripePortal

            engine: PortalEngine = StripePortal(self.context, stripe=self.stripe)
        else:
            engine = LocalPortal(self.context)
        return PortalService(self.context, engine=engine)

    @cached_property
    def usage(self) -> UsageService:
        from .services.usage import UsageService

        return UsageService(
            self.context,
            current=self.current_customer,
            queue_outbox=self.engines.meters_usage,
        )

    @cached_property
    def ingest(self) -> UsageIngestService:
        from .services.ingest import UsageIngestService

        return UsageIngestService(self.context, self.usage)

    @cached_property
    def usage_reports(self) -> UsageReports:
        from .services.usage_report import UsageReports

        return UsageReports(self.context, self.usage_reader)

    @cached_property
    def quotas(self) -> QuotaService:
        from .services.quotas import QuotaService

        return QuotaService(
            self.context,
            current=self.current_customer,
            reader=self.usage_reader,
            gate=self.writer_gate,
            queue_outbox=self.engines.meters_usage,
        )

    @cached_property
    def rollups(self) -> RollupService:
        from .services.rollups import RollupService

        return RollupService(self.context)

    @cached_property
    def export(self) -> ExportService:
        from .services.export import ExportService

        return ExportService(self.context, current=self.current_customer)

    @cached_property
    def queries(self) -> QueryService:
        from .services.query import QueryService

        return QueryService(self.context)

    @cached_property
    def notify(self) -> NotifyService:
        from .services.notify import NotifyService

        return NotifyService(self.context)

    @cached_property
    def apikeys(self) -> ApiKeyService:
        from .services.apikeys import ApiKeyService

        return ApiKeyService(self.context)

    @cached_property
    def events(self) -> EventService:
        from .services.event_shipping import EventService

        return EventService(self.context)

    @cached_property
    def diagnostics(self) -> Diagnostics:
        from .services.diagnostics import Diagnostics

        return Diagnostics(self.context, events=lambda: self.events)

    @cached_property
    def webhook_inbox(self) -> WebhookInbox:
        from .services.webhook_inbox import WebhookInbox

        return WebhookInbox(self.context)

    @cached_property
    def stripe(self) -> StripeBillingService:
        """The use cases on Stripe (plan sync, webhooks, ...); with the local provider they
        answer that Stripe is not configured."""
        from .services.stripe.billing import StripeBillingService

        return StripeBillingService(self.context, outbox=self.outbox)

    @cached_property
    def outbox(self) -> OutboxService:
        from .services.stripe.usage_outbox import OutboxService

        return OutboxService(self.context)

    def demo(self) -> DemoServices:
        """The local engine's use cases on the local provider, whatever is configured (the
        demo never talks to a payment provider)."""
        from .providers.local import LocalProvider
        from .services.customers import CustomerService, LocalCustomers
        from .services.demo import DemoServices
        from .services.usage import UsageService

        local = replace(self.context, provider=LocalProvider())
        current = CurrentCustomer(local)
        return DemoServices(
            customers=CustomerService(local, current=current, engine=LocalCustomers(local)),
            subscriptions=_local_subscriptions(local),
            subscriptions_at=lambda at: _local_subscriptions(replace(local, clock=lambda: at)),
            usage=UsageService(local, current=current, queue_outbox=False),
        )

    def close(self) -> None:
        if self.context.events is not None:
            self.context.events.close()
        self.context.db.close_loop_connections_from_outside()
        self.context.db.dispose()


def _local_subscriptions(ctx: Context) -> SubscriptionService:
    from .services.cycle import CycleService
    from .services.subscriptions import SubscriptionService

    return SubscriptionService(ctx, cycle=CycleService(ctx))


@functools.cache
def stripe_webhook_format() -> WebhookFormat:
    """The Stripe adapter's reading of webhook events (imported on the first event)."""
    from .providers.stripe.webhooks import StripeEventFormat

    return StripeEventFormat()


def sign_stripe_webhook(payload: str, secret: str) -> str:
    """``webhook test``'s signer: the Stripe adapter's (the SDK is imported on first use)."""
    from .providers.stripe.webhooks import sign_event

    return sign_event(payload, secret)


def open_database(settings: Settings) -> Database:
    if settings.database_url is not None:
        return Database(settings.database_url.reveal())
    try:
        private_directory(settings.data_dir)
        private_file(settings.sqlite_path)  # SQLite gives its -wal and -shm files its mode
    except OSError as error:
        raise ConfigError(
            f"Cannot create data directory {settings.data_dir}: {error.strerror}"
        ) from None
    path = settings.sqlite_path
    if sqlite_read_only(path):
        return Database(sqlite_url(path), read_only_path=path)
    return Database(sqlite_url(path))


def private_directory(path: Path) -> None:
    """Create ``path`` (and its missing parents) readable by its owner only (0700); an
    existing directory keeps the mode its operator gave it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def private_file(path: Path) -> None:
    """Create ``path`` empty and readable by its owner only (0600) unless it exists: usage,
    customers and keys' hashes are in the database, tenants' activity in the log."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def open_events(settings: Settings) -> ClickHouseEvents | None:
    """The ClickHouse event store (no connection yet: accepting events never waits for it)."""
    if settings.clickhouse_url is None:
        return None
    if not settings.uses_postgresql:
        raise ConfigError(
            "BILLING_CLICKHOUSE_URL needs PostgreSQL (set BILLING_DATABASE_URL): the outbox "
            "that feeds ClickHouse is filled by a PostgreSQL trigger"
        )
    return ClickHouseEvents(settings.clickhouse_url.reveal())


def ensure_capture(db: Database) -> None:
    """Every event inserted from now on reaches the outbox (one catalog query when the trigger
    is there already; installing it also queues the events stored before)."""
    from .store import event_outbox as event_store

    with db.read() as conn:
        if event_store.capture_installed(conn):
            return
    with db.write() as conn:
        event_store.install_capture(conn)


def make_provider(settings: Settings) -> PaymentProvider:
    if settings.provider == "stripe":
        from .providers.stripe import StripeProvider

        return StripeProvider(settings)
    from .providers.local import LocalProvider

    return LocalProvider()


class _WithPlans(Protocol):
    """``Billing`` or ``Services``: what applying plans.toml needs."""

    @property
    def context(self) -> Context: ...

    @property
    def plans(self) -> PlanService: ...


def apply_plans_file(billing: _WithPlans, *, force: bool) -> list[str]:
    """Apply ``${NSELF_ROOT}/plans.toml`` if present and changed since it was last applied to
    this database (or always, with ``force``)."""
    found = plans_file(billing.context.settings)
    if found is None or (not force and found.applied):
        return []
    applied = billing.plans.apply_file(found.path)
    found.mark_applied()
    return applied


_LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def configure_logging(settings: Settings) -> logging.Logger:
    """The billing log file (BILLING_LOG_FILE) at NSELF_LOG_LEVEL, as JSON lines (see
    ``logfile``). Never fatal: a log file that cannot be written leaves the logger without a
    file handler."""
    from .logfile import file_handler

    log = logging.getLogger("nself_billing")
    log.setLevel(_LOG_LEVELS[settings.log_level])
    log.propagate = False
    path = str(settings.log_file)
    if not any(getattr(h, "baseFilename", None) == path for h in log.handlers):
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()
        try:
            private_directory(settings.log_file.parent)
            private_file(settings.log_file)
            handler = file_handler(settings.log_file, max_bytes=settings.log_max_bytes)
        except OSError:
            return log
        log.addHandler(handler)
    return log


def debug_database(db: Database, log: logging.Logger) -> None:
    """NSELF_LOG_LEVEL=debug: one line per SQL statement with its duration (the statement's
    text, never its parameters)."""
    from time import perf_counter

    from sqlalchemy import event

    @event.listens_for(db.engine, "before_cursor_execute")
    def _start(conn: Any, _cursor: Any, _sql: str, _params: Any, _ctx: Any, _many: bool) -> None:
        conn.info.setdefault("nself_sql_started", []).append(perf_counter())

    @event.listens_for(db.engine, "after_cursor_execute")
    def _end(conn: Any, _cursor: Any, sql: str, _params: Any, _ctx: Any, many: bool) -> None:
        started = conn.info.get("nself_sql_started")
        if not started:
            return
        elapsed = perf_counter() - started.pop()
        log.debug(
            "sql",
            extra={
                "fields": {
                    "event": "sql",
                    "ms": round(elapsed * 1000, 3),
                    "many": many,
                    "sql": " ".join(sql.split())[:300],
                }
            },
        )


class LoggedProvider:
    """NSELF_LOG_LEVEL=debug: the payment provider with one line per call (its name, duration
    and outcome; never its arguments, which may carry personal data)."""

    def __init__(self, provider: Any, log: logging.Logger) -> None:
        self._provider = provider
        self._log = log

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._provider, name)
        if name.startswith("_") or not callable(value):
            return value
        log = self._log

        def call(*args: Any, **kwargs: Any) -> Any:
            from time import perf_counter

            started = perf_counter()
            outcome = "ok"
            try:
                return value(*args, **kwargs)
            except Exception as error:
                outcome = type(error).__name__
                raise
            finally:
                log.debug(
                    "provider",
                    extra={
                        "fields": {
                            "event": "provider_call",
                            "provider": getattr(self._provider, "name", "?"),
                            "call": name,
                            "ms": round((perf_counter() - started) * 1000, 3),
                            "outcome": outcome,
                        }
                    },
                )

        return call
