"""The object API: ``Billing`` gathers the use cases behind one handle."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from .services.context import Clock, Context

if TYPE_CHECKING:
    import logging

    from .bootstrap import Services
    from .services.apikeys import ApiKeyService
    from .services.catalog import PlanService
    from .services.customers import CustomerService
    from .services.demo import DemoResult
    from .services.diagnostics import Diagnostics
    from .services.engines import CycleEngine, SubscriptionEngine
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
    from .services.usage import UsageService
    from .services.usage_import import ImportResult, Source
    from .services.usage_report import UsageReports
    from .services.webhook_inbox import WebhookInbox

__all__ = ["Billing"]

T = TypeVar("T")


class _Built(Generic[T]):
    """An attribute of ``Billing``: the use case bootstrap.py built, fetched on first use and
    then kept on the instance (later reads are plain attribute reads)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, instance: None, owner: type) -> _Built[T]: ...

    @overload
    def __get__(self, instance: Billing, owner: type) -> T: ...

    def __get__(self, instance: Billing | None, owner: type) -> _Built[T] | T:
        if instance is None:
            return self
        value: T = getattr(instance._services, self._name)
        instance.__dict__[self._name] = value
        return value


class Billing:
    """One tenant-aware handle on the billing system.

    Build it with ``Billing.from_env()`` (reads the environment and ``.env``) and close it when
    done, or use it as a context manager. Every attribute is a group of use cases, built by
    bootstrap.py (``Services``, the one place that wires them); each call is one transaction.
    """

    def __init__(self, services: Services) -> None:
        self._services = services
        self.context: Context = services.context
        self.settings = services.context.settings

    #: the plan catalog
    plans: _Built[PlanService] = _Built()
    #: customers (tenants)
    customers: _Built[CustomerService] = _Built()
    #: subscriptions: start, upgrade, downgrade, cancel, reactivate (the local engine, or
    #: Stripe's, as chosen when this handle was built)
    subscriptions: _Built[SubscriptionEngine] = _Built()
    #: period close (nothing to do when the provider closes its own periods)
    cycle: _Built[CycleEngine] = _Built()
    #: invoices
    invoices: _Built[InvoiceService] = _Built()
    #: payment methods
    payment_methods: _Built[PaymentMethodService] = _Built()
    #: customer portal links
    portal: _Built[PortalService] = _Built()
    #: usage recording and reports
    usage: _Built[UsageService] = _Built()
    #: validated batch ingestion (the HTTP service's POST /v1/usage)
    ingest: _Built[UsageIngestService] = _Built()
    #: usage summaries of the request path (the account cached for a second)
    usage_reports: _Built[UsageReports] = _Built()
    #: quotas: limits, status, check/enforce, atomic consume, alerts
    quotas: _Built[QuotaService] = _Built()
    #: the per-day rollups checked against the raw events
    rollups: _Built[RollupService] = _Built()
    #: data export
    export: _Built[ExportService] = _Built()
    #: SQL for billing_db_query
    queries: _Built[QueryService] = _Built()
    #: notifications: webhook endpoints, the delivery outbox, email
    notify: _Built[NotifyService] = _Built()
    #: API keys of the HTTP service
    apikeys: _Built[ApiKeyService] = _Built()
    #: raw usage events on ClickHouse: shipping, reconcile, pruning (BILLING_CLICKHOUSE_URL)
    events: _Built[EventService] = _Built()
    #: configuration, database and Stripe checks
    diagnostics: _Built[Diagnostics] = _Built()
    #: received Stripe webhooks
    webhook_inbox: _Built[WebhookInbox] = _Built()
    #: use cases on Stripe
    stripe: _Built[StripeBillingService] = _Built()
    #: the usage outbox towards Stripe's meters
    outbox: _Built[OutboxService] = _Built()

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        customer_id: str | None = None,
        clock: Clock | None = None,
        provider: Any = None,
        migrate: bool = True,
    ) -> Billing:
        from .bootstrap import build
        from .settings import Settings

        return cls(
            build(
                Settings.from_env(environ),
                customer_id=customer_id,
                clock=clock,
                provider=provider,
                migrate=migrate,
            )
        )

    def upgrade_schema(self) -> tuple[str | None, str]:
        """Create or upgrade the schema (``migrate``): the revisions before and after."""
        from .store.migrate import upgrade

        return upgrade(self.context.db)

    def apply_plans_file(self, *, force: bool) -> list[str]:
        """Apply ``plans.toml`` (when it changed, or always with ``force``): the plans applied."""
        from .bootstrap import apply_plans_file

        return apply_plans_file(self, force=force)

    def run_demo(self) -> DemoResult:
        """The demo tenant and its month of usage, on the local provider whatever is set."""
        from .services.demo import run_demo

        return run_demo(self.context, self._services.demo())

    def preload_webhook_verifier(self) -> None:
        """Import the Stripe SDK the webhook receiver verifies with (~0.4 s of CPU) now, not
        in the first delivery."""
        from .providers.stripe.webhooks import preload_sdk

        preload_sdk()

    def import_usage(
        self,
        source: Source,
        *,
        batch_size: int = 20_000,
        progress: Callable[[int], None] | None = None,
    ) -> ImportResult:
        """``usage import``: every line of ``source`` (JSON lines or CSV) through the batch write
        path; bad lines are rejected with their numbers and the rest goes in."""
        from .services.usage_import import import_events

        return import_events(self.usage, source, batch_size=batch_size, progress=progress)

    @property
    def clock(self) -> Clock:
        """The clock every use case reads (injected with ``from_env(clock=...)``)."""
        return self.context.clock

    @property
    def log(self) -> logging.Logger:
        """The billing log (JSON lines)."""
        return self.context.log

    @property
    def provider_name(self) -> str:
        """The payment provider acting: ``local`` or ``stripe``."""
        return self.context.provider.name

    def set_db_timeouts(self, *, statement: float | None, lock: float | None) -> None:
        """Bound every database wait of this handle from now on (seconds; None: no bound)."""
        self.context.db.set_timeouts(statement=statement, lock=lock)

    @property
    def customer_id(self) -> str:
        """The current tenant (see ``CustomerService.current_id``)."""
        return self.customers.current_id()

    async def close_loop_connections(self) -> None:
        """Close the database connections of the running event loop (PostgreSQL's, which the
        HTTP service writes small usage groups on): its shutdown, on that loop. ``close()``
        closes them too, from outside the loop."""
        await self.context.db.close_loop_connections()

    def close(self) -> None:
        self._services.close()

    def __enter__(self) -> Billing:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
