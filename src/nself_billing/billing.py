"""The object API: ``Billing`` gathers the use cases behind one handle."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .services.context import Clock, Context

if TYPE_CHECKING:
    import logging

    from .services.apikeys import ApiKeyService
    from .services.catalog import PlanService
    from .services.customers import CustomerService
    from .services.cycle import CycleService
    from .services.demo import DemoResult
    from .services.diagnostics import Diagnostics
    from .services.engines import SubscriptionEngine
    from .services.event_shipping import EventService
    from .services.export import ExportService
    from .services.ingest import UsageIngestService
    from .services.invoices import InvoiceService
    from .services.notify import NotifyService
    from .services.payments import PaymentMethodService
    from .services.portal import PortalService
    from .services.query import QueryService
    from .services.quotas import QuotaService
    from .services.rollups import RollupService
    from .services.stripe_billing import StripeBillingService
    from .services.stripe_outbox import OutboxService
    from .services.usage import UsageService
    from .services.usage_import import ImportResult, Source
    from .services.usage_report import UsageReports
    from .services.webhook_inbox import WebhookInbox

__all__ = ["Billing"]


class Billing:
    """One tenant-aware handle on the billing system.

    Build it with ``Billing.from_env()`` (reads the environment and ``.env``) and close it when
    done, or use it as a context manager. Every attribute is a group of use cases; each call is
    one transaction.
    """

    def __init__(self, ctx: Context) -> None:
        self.context = ctx
        self.settings = ctx.settings

    # Each group of use cases is made (and its module imported) on first use, so a command
    # pays start-up time only for what it touches.

    @cached_property
    def plans(self) -> PlanService:
        """The plan catalog."""
        from .services.catalog import PlanService

        return PlanService(self.context)

    @cached_property
    def customers(self) -> CustomerService:
        """Customers (tenants)."""
        from .services.customers import CustomerService

        return CustomerService(self.context)

    @cached_property
    def subscriptions(self) -> SubscriptionEngine:
        """Subscriptions: start, upgrade, downgrade, cancel, reactivate (the local engine, or
        Stripe's, as chosen when this handle was built)."""
        from .services.engines import choose_engines

        engines = self.context.engines or choose_engines(self.context.provider)
        return engines.subscriptions(self.context)

    @cached_property
    def diagnostics(self) -> Diagnostics:
        """Configuration, database and Stripe checks."""
        from .services.diagnostics import Diagnostics

        return Diagnostics(self.context)

    @cached_property
    def queries(self) -> QueryService:
        """SQL for billing_db_query."""
        from .services.query import QueryService

        return QueryService(self.context)

    @cached_property
    def export(self) -> ExportService:
        """Data export."""
        from .services.export import ExportService

        return ExportService(self.context)

    @cached_property
    def usage(self) -> UsageService:
        """Usage recording and reports."""
        from .services.usage import UsageService

        return UsageService(self.context)

    @cached_property
    def usage_reports(self) -> UsageReports:
        """Usage summaries of the request path (the account cached for a second)."""
        from .services.usage_report import UsageReports

        return UsageReports(self.context, self.quotas.reader)

    @cached_property
    def rollups(self) -> RollupService:
        """The per-day rollups checked against the raw events."""
        from .services.rollups import RollupService

        return RollupService(self.context)

    @cached_property
    def quotas(self) -> QuotaService:
        """Quotas: limits, status, check/enforce, atomic consume, alerts."""
        from .services.quotas import QuotaService

        return QuotaService(self.context)

    @cached_property
    def notify(self) -> NotifyService:
        """Notifications: webhook endpoints, the delivery outbox, email."""
        from .services.notify import NotifyService

        return NotifyService(self.context)

    @cached_property
    def cycle(self) -> CycleService:
        """Period close."""
        from .services.cycle import CycleService

        return CycleService(self.context)

    @cached_property
    def invoices(self) -> InvoiceService:
        """Invoices."""
        from .services.invoices import InvoiceService

        return InvoiceService(self.context)

    @cached_property
    def payment_methods(self) -> PaymentMethodService:
        """Payment methods."""
        from .services.payments import PaymentMethodService

        return PaymentMethodService(self.context)

    @cached_property
    def portal(self) -> PortalService:
        """Customer portal links."""
        from .services.portal import PortalService

        return PortalService(self.context)

    @cached_property
    def stripe(self) -> StripeBillingService:
        """Use cases on Stripe."""
        from .services.stripe_billing import StripeBillingService

        return StripeBillingService(self.context)

    @cached_property
    def outbox(self) -> OutboxService:
        """The usage outbox towards Stripe's meters."""
        from .services.stripe_outbox import OutboxService

        return OutboxService(self.context)

    @cached_property
    def apikeys(self) -> ApiKeyService:
        """API keys of the HTTP service."""
        from .services.apikeys import ApiKeyService

        return ApiKeyService(self.context)

    @cached_property
    def webhook_inbox(self) -> WebhookInbox:
        """Received Stripe webhooks."""
        from .services.webhook_inbox import WebhookInbox

        return WebhookInbox(self.context)

    @cached_property
    def events(self) -> EventService:
        """Raw usage events on ClickHouse: shipping, reconcile, pruning (BILLING_CLICKHOUSE_URL)."""
        from .services.event_shipping import EventService

        return EventService(self.context)

    @cached_property
    def ingest(self) -> UsageIngestService:
        """Validated batch ingestion (the HTTP service's POST /v1/usage)."""
        from .services.ingest import UsageIngestService

        return UsageIngestService(self.context, self.usage)

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

        return build(
            Settings.from_env(environ),
            customer_id=customer_id,
            clock=clock,
            provider=provider,
            migrate=migrate,
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
        from .providers.local import LocalProvider
        from .services.demo import run_demo

        return run_demo(self.context, LocalProvider())

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

    def close(self) -> None:
        if self.context.events is not None:
            self.context.events.close()
        self.context.db.dispose()

    def __enter__(self) -> Billing:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
