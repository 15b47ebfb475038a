"""The payment provider port. The service layer talks only to this; adapters implement it.

The local provider keeps everything in our database (the offline, embedded default); the Stripe
adapter maps the same calls onto Stripe. The database rows are the mirror either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from ..domain.remote import (
    RemoteInvoice,
    RemoteInvoiceLine,
    RemotePaymentMethod,
    RemoteSubscription,
)

# the values a remote provider passes live in domain/ (the mirror in store/ stores them)
from ..domain.subscriptions import Trial

__all__ = [
    "CatalogEntry",
    "CatalogPlan",
    "MeterEvent",
    "PaymentProvider",
    "ProviderCustomer",
    "RemoteBilling",
    "RemoteInvoice",
    "RemoteInvoiceLine",
    "RemotePaymentMethod",
    "RemoteSubscription",
    "WebhookFormat",
    "WebhookSigner",
]


class WebhookFormat(Protocol):
    """A provider's webhook events as the port's values: the adapter checks the signature and
    maps the objects an event carries (their format is the adapter's, never the services')."""

    def verify(self, payload: bytes, sig_header: str | None, secret: Any) -> dict[str, Any]:
        """The verified event (``BadSignature``, or ``ConfigError`` without a secret)."""
        ...

    def is_ours(self, obj: dict[str, Any]) -> bool:
        """Does the object belong to this tool (a shared account holds others')?"""
        ...

    def subscription(self, obj: dict[str, Any]) -> RemoteSubscription: ...

    def invoice(self, obj: dict[str, Any]) -> RemoteInvoice: ...

    def payment_method(self, obj: dict[str, Any]) -> RemotePaymentMethod: ...


class WebhookSigner(Protocol):
    """Signs a webhook payload as the provider would (``webhook test``): the header value."""

    def __call__(self, payload: str, secret: str) -> str: ...


@dataclass(frozen=True)
class ProviderCustomer:
    customer_id: str
    email: str | None
    name: str | None
    phone: str | None


class PaymentProvider(Protocol):
    name: str

    def create_customer(
        self,
        *,
        email: str | None,
        name: str | None,
        phone: str | None,
        project_name: str | None,
        idempotency_key: str,
    ) -> ProviderCustomer: ...

    def update_customer(
        self, customer_id: str, *, email: str | None, name: str | None, phone: str | None
    ) -> ProviderCustomer | None:
        """The provider's customer after the update, or None where the mirror is the truth."""
        ...

    def create_subscription(
        self,
        *,
        customer_id: str,
        plan_name: str,
        interval: str,
        trial: Trial | None,
        idempotency_key: str,
    ) -> str:
        """Start a subscription at the provider; returns its id. ``trial``: free until its
        end, then the share of the period it ends in, then the anniversary cycle."""
        ...

    def check_connection(self) -> str:
        """One line describing a working connection; raises ProviderError otherwise."""
        ...


# --- Remote billing: what only a remote provider (Stripe) does --------------------------------
# The local provider keeps these use cases in our database (services/subscriptions.py,
# invoices, payments); a remote provider is the source of truth for them and our tables are its
# mirror. Kept apart from PaymentProvider so the local implementation is not disturbed: a
# service checks ``isinstance(ctx.provider, RemoteBilling)`` and dispatches.


@dataclass(frozen=True)
class MeterEvent:
    """One usage event for a Billing Meter; ``identifier`` is stable across retries so the
    provider counts it once."""

    identifier: str
    event_name: str
    customer_id: str
    value: Decimal
    timestamp: datetime


@dataclass(frozen=True)
class CatalogPlan:
    name: str
    description: str
    currency: str
    price_monthly: Decimal | None
    price_yearly: Decimal | None
    #: service -> overage price per unit (metered services only: soft limits with a price)
    overage: dict[str, Decimal]
    #: service -> the quota included in the plan price (the free first tier)
    included: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class CatalogEntry:
    plan_name: str
    product_id: str
    price_monthly_id: str | None
    price_yearly_id: str | None
    #: service -> (meter id, metered price id)
    meters: dict[str, tuple[str, str]]
    created: tuple[str, ...]


@runtime_checkable
class RemoteBilling(Protocol):
    """Operations a remote provider performs itself. Every write takes an idempotency key
    derived from the operation, so a command re-run after a crash does not act twice."""

    def retrieve_customer(self, customer_id: str) -> ProviderCustomer: ...

    def portal_url(
        self, customer_id: str, *, return_url: str | None, flow: str | None = None
    ) -> str: ...

    def list_subscriptions(self, customer_id: str) -> list[RemoteSubscription]: ...

    def retrieve_subscription(
        self, subscription_id: str, *, with_invoice: bool = False
    ) -> RemoteSubscription: ...

    def upgrade_subscription(
        self, subscription_id: str, *, plan_name: str, interval: str, idempotency_key: str
    ) -> RemoteSubscription: ...

    def schedule_downgrade(
        self, subscription_id: str, *, plan_name: str, interval: str, idempotency_key: str
    ) -> RemoteSubscription: ...

    def cancel_subscription(
        self, subscription_id: str, *, immediate: bool, idempotency_key: str
    ) -> RemoteSubscription: ...

    def reactivate_subscription(
        self, subscription_id: str, *, idempotency_key: str, clear_cancel_at: bool = False
    ) -> RemoteSubscription: ...

    def list_invoices(self, customer_id: str, *, limit: int = 10) -> list[RemoteInvoice]: ...

    def retrieve_invoice(self, invoice_id: str) -> RemoteInvoice: ...

    def pay_invoice(self, invoice_id: str, *, idempotency_key: str) -> RemoteInvoice: ...

    def download_invoice_pdf(self, invoice_id: str) -> bytes: ...

    def list_payment_methods(self, customer_id: str) -> list[RemotePaymentMethod]: ...

    def detach_payment_method(
        self, customer_id: str, payment_method_id: str, *, idempotency_key: str
    ) -> None: ...

    def set_default_payment_method(
        self, customer_id: str, payment_method_id: str, *, idempotency_key: str
    ) -> None: ...

    def sync_catalog(self, plans: list[CatalogPlan]) -> list[CatalogEntry]: ...

    def send_meter_events(self, events: list[MeterEvent]) -> None:
        """Send a batch; returns only when the provider acknowledged all of it."""
        ...

    def meter_event_total(
        self, service: str, customer_id: str, start: datetime, end: datetime
    ) -> Decimal | None: ...

    def list_webhook_endpoints(self) -> list[dict[str, Any]]: ...

    def list_events(self, *, limit: int = 10) -> list[dict[str, Any]]: ...
