"""The object API: ``Billing`` gathers the use cases behind one handle."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

from .services.apikeys import ApiKeyService
from .services.catalog import PlanService
from .services.context import Clock, Context
from .services.customers import CustomerService
from .services.cycle import CycleService
from .services.diagnostics import Diagnostics
from .services.export import ExportService
from .services.ingest import UsageIngestService
from .services.invoices import InvoiceService
from .services.payments import PaymentMethodService
from .services.portal import PortalService
from .services.query import QueryService
from .services.quotas import QuotaService
from .services.rollups import RollupService
from .services.stripe_billing import StripeBillingService
from .services.stripe_outbox import OutboxService
from .services.subscriptions import SubscriptionService
from .services.usage import UsageService
from .services.webhook_inbox import WebhookInbox


class Billing:
    """One tenant-aware handle on the billing system.

    Build it with ``Billing.from_env()`` (reads the environment and ``.env``) and close it when
    done, or use it as a context manager. Every attribute is a group of use cases; each call is
    one transaction.
    """

    def __init__(self, ctx: Context) -> None:
        self.context = ctx
        self.settings = ctx.settings
        self.plans = PlanService(ctx)
        self.customers = CustomerService(ctx)
        self.subscriptions = SubscriptionService(ctx)
        self.diagnostics = Diagnostics(ctx)
        self.queries = QueryService(ctx)
        self.export = ExportService(ctx)
        self.usage = UsageService(ctx)
        self.rollups = RollupService(ctx)
        # quotas: limits, status, check/enforce, atomic consume, alerts (issue 4)
        self.quotas = QuotaService(ctx)
        # subscriptions: period close, invoices, payment methods, portal links
        self.cycle = CycleService(ctx)
        self.invoices = InvoiceService(ctx)
        self.payment_methods = PaymentMethodService(ctx)
        self.portal = PortalService(ctx)
        # stripe: use cases on the remote provider, and the usage outbox towards its meters
        self.stripe = StripeBillingService(ctx)
        self.outbox = OutboxService(ctx)
        # the HTTP service (issue 7)
        self.apikeys = ApiKeyService(ctx)
        self.ingest = UsageIngestService(ctx, self.usage)
        self.webhook_inbox = WebhookInbox(ctx)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *,
                 customer_id: str | None = None, clock: Clock | None = None,
                 provider: Any = None, migrate: bool = True) -> Billing:
        from .bootstrap import build
        from .settings import Settings

        return build(Settings.from_env(environ), customer_id=customer_id, clock=clock,
                     provider=provider, migrate=migrate)

    @property
    def customer_id(self) -> str:
        """The current tenant (see ``CustomerService.current_id``)."""
        return self.customers.current_id()

    def close(self) -> None:
        self.context.db.dispose()

    def __enter__(self) -> Billing:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
