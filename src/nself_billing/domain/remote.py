"""What a remote payment provider (Stripe) keeps and we mirror: subscriptions, invoices and
payment methods as plain values. The provider port passes them (``providers/port.py``
re-exports them) and the mirror stores them (``store/stripe_mirror.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from .invoicing import InvoiceStatus, LineKind
from .subscriptions import SubscriptionStatus


@dataclass(frozen=True)
class RemoteSubscription:
    subscription_id: str
    customer_id: str
    status: SubscriptionStatus
    #: the plan the current price belongs to (``None`` for a price we did not create)
    plan_name: str | None
    interval: str
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    ended_at: datetime | None
    trial_end: datetime | None
    schedule_id: str | None
    #: the provider's own creation time of the object, used for ordering
    created: datetime | None
    #: a cancellation scheduled at a date (Stripe's ``cancel_at``)
    cancel_at: datetime | None = None
    latest_invoice_id: str | None = None
    #: where the customer completes a payment the subscription waits for (hosted invoice page)
    payment_url: str | None = None
    #: a change waits for its invoice to be paid (Stripe's ``pending_update``)
    pending_update: bool = False


@dataclass(frozen=True)
class RemoteInvoiceLine:
    description: str
    amount: Decimal
    quantity: int | None
    period_start: datetime | None
    period_end: datetime | None
    #: base | overage | proration, as far as the line tells
    kind: LineKind = LineKind.BASE
    service: str | None = None


@dataclass(frozen=True)
class RemoteInvoice:
    invoice_id: str
    customer_id: str
    subscription_id: str | None
    status: InvoiceStatus
    number: str | None
    currency: str
    total: Decimal
    subtotal: Decimal
    amount_due: Decimal
    period_start: datetime | None
    period_end: datetime | None
    created: datetime | None
    paid_at: datetime | None
    finalized_at: datetime | None
    hosted_invoice_url: str | None
    invoice_pdf: str | None
    lines: tuple[RemoteInvoiceLine, ...] = ()
    #: what a payment attempt left: ``paid``, ``processing`` (a bank debit on its way) or
    #: ``requires_action`` (the customer must authenticate on ``hosted_invoice_url``)
    payment_state: str | None = None


@dataclass(frozen=True)
class RemotePaymentMethod:
    payment_method_id: str
    customer_id: str | None
    type: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    is_default: bool
