"""What every use case needs, built once by bootstrap.py."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ..domain.seller import InvoiceTerms, Seller, address_lines
from ..providers.port import PaymentProvider, WebhookFormat, WebhookSigner
from ..settings import Settings
from ..store.clickhouse import ClickHouseEvents
from ..store.db import Database

Clock = Callable[[], datetime]


@dataclass
class Context:
    settings: Settings
    db: Database
    provider: PaymentProvider
    clock: Clock
    log: logging.Logger
    #: the tenant chosen with --customer (or Billing(customer_id=...)), over NSELF_CUSTOMER_ID
    customer_override: str | None = None

    @property
    def invoice_terms(self) -> InvoiceTerms:
        return InvoiceTerms(self.settings.invoice_prefix, self.settings.invoice_due_days)

    @property
    def seller(self) -> Seller:
        settings = self.settings
        return Seller(
            name=settings.seller_name,
            address=address_lines(settings.seller_address),
            tax_id=settings.seller_tax_id,
            email=settings.seller_email,
            payment_instructions=settings.payment_instructions,
        )

    #: the raw events' store when BILLING_CLICKHOUSE_URL is set (opened on first use)
    events: ClickHouseEvents | None = None
    #: signs a sample webhook event as the provider would (``webhook test``), set by bootstrap
    sign_webhook: WebhookSigner | None = None
    #: the provider's webhook events as the port's values (signature check, object mapping),
    #: set by bootstrap; a callable, so the adapter is imported when an event arrives
    webhook_format: Callable[[], WebhookFormat] | None = None
