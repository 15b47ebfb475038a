"""The payment provider port. The service layer talks only to this; adapters implement it.

The local provider keeps everything in our database (the offline, embedded default); the Stripe
adapter maps the same calls onto Stripe. The database rows are the mirror either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class ProviderCustomer:
    customer_id: str
    email: str | None
    name: str | None
    phone: str | None


@dataclass(frozen=True)
class ProviderPayment:
    payment_id: str
    #: succeeded | failed
    status: str
    failure_message: str | None = None


class PaymentProvider(Protocol):
    """What the use cases ask of a payment provider. Methods below ``check_connection`` are
    the subscription, invoice and payment-method operations: the local provider accepts them
    (our database is the truth), the Stripe adapter performs them at Stripe."""

    name: str

    def create_customer(self, *, email: str | None, name: str | None, phone: str | None,
                        project_name: str | None, idempotency_key: str) -> ProviderCustomer: ...

    def update_customer(self, customer_id: str, *, email: str | None, name: str | None,
                        phone: str | None) -> ProviderCustomer | None:
        """The provider's customer after the update, or None where the mirror is the truth."""
        ...

    def create_subscription(self, *, customer_id: str, plan_name: str, interval: str,
                            trial_days: int, idempotency_key: str) -> str:
        """Start a subscription at the provider; returns its id."""
        ...

    def check_connection(self) -> str:
        """One line describing a working connection; raises ProviderError otherwise."""
        ...

    # -- subscriptions ------------------------------------------------------------------
    def change_plan(self, *, subscription_id: str, plan_name: str, interval: str,
                    idempotency_key: str) -> None:
        """Switch plans now, charging the prorated difference at once (an upgrade)."""
        ...

    def schedule_plan_change(self, *, subscription_id: str, plan_name: str | None,
                             interval: str, idempotency_key: str) -> None:
        """Switch plans at the period end (a downgrade); None drops a scheduled change."""
        ...

    def cancel_subscription(self, *, subscription_id: str, immediate: bool,
                            idempotency_key: str) -> None: ...

    def reactivate_subscription(self, *, subscription_id: str, idempotency_key: str) -> None:
        """Drop a cancellation scheduled for the period end."""
        ...

    # -- invoices and payment methods ----------------------------------------------------
    def pay_invoice(self, *, invoice_id: str, customer_id: str, amount: Decimal,
                    currency: str, payment_method_id: str | None,
                    idempotency_key: str) -> ProviderPayment:
        """Charge an invoice with a payment method (the customer's default if None)."""
        ...

    def add_payment_method(self, *, customer_id: str, reference: str | None,
                           idempotency_key: str) -> str:
        """Attach a payment method by reference (a provider token); returns its id."""
        ...

    def remove_payment_method(self, payment_method_id: str) -> None: ...

    def set_default_payment_method(self, *, customer_id: str,
                                   payment_method_id: str) -> None: ...

    def portal_url(self, *, customer_id: str, return_url: str | None) -> str | None:
        """The provider's customer portal session, or None to use our own portal page."""
        ...
