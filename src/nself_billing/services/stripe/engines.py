"""The Stripe engine of each area (the protocols of ``services/engines.py``): Stripe acts, then
the mirror the use cases read is refreshed (``StripeBillingService``). Chosen once by
bootstrap.py when the provider is Stripe."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from ...domain.customers import Customer
from ...domain.invoicing import Invoice, InvoiceStatus
from ...domain.payments import PaymentMethod
from ...errors import Conflict, InvalidInput
from ..context import Context
from ..cycle import BATCH_SIZE, CycleResult
from ..invoices import SAFE_ID, PaymentResult, read_invoice
from ..portal_links import PortalLink
from .billing import StripeBillingService

#: Stripe lists at most 100 objects per page
STRIPE_LIST_LIMIT = 100


class StripeCustomers:
    def __init__(self, ctx: Context, *, stripe: StripeBillingService) -> None:
        self._ctx = ctx
        self._stripe = stripe

    def refresh(self, customer_id: str) -> None:
        self._stripe.customer(customer_id)

    def create(
        self,
        *,
        email: str | None,
        name: str | None,
        phone: str | None,
        customer_id: str | None,
        project: str | None,
    ) -> Customer:
        """Journaled: a replay adopts the customer Stripe made."""
        if customer_id is not None:
            raise InvalidInput(
                f"With the {self._ctx.provider.name} provider a customer's id is "
                "the one it assigns: omit --id (to use a customer created in "
                "Stripe, set NSELF_CUSTOMER_ID to its id)"
            )
        return self._stripe.create_customer(email=email, name=name, phone=phone, project=project)


class StripeInvoices:
    def __init__(self, ctx: Context, *, stripe: StripeBillingService) -> None:
        self._ctx = ctx
        self._stripe = stripe

    def refresh(self, customer_id: str, *, limit: int | None) -> None:
        self._stripe.invoices(customer_id, limit=min(limit or STRIPE_LIST_LIMIT, STRIPE_LIST_LIMIT))

    def refresh_one(self, invoice_id: str) -> None:
        if not SAFE_ID.match(invoice_id):
            raise InvalidInput(f"Invalid invoice id: {invoice_id!r}")
        self._stripe.invoice(invoice_id)

    def write_pdf(self, invoice: Invoice, directory: Path | None) -> Path:
        """Stripe's own PDF (its invoice_pdf link)."""
        return self._stripe.download_invoice(invoice.invoice_id, directory)

    def pay(self, invoice: Invoice) -> PaymentResult:
        """Stripe charges the default payment method (and finalizes a draft it is asked to
        pay); the answer says whether it is paid, processing or waits for the customer."""
        invoice_id = invoice.invoice_id
        if invoice.is_paid:
            return PaymentResult(invoice, None, True)
        if invoice.status == InvoiceStatus.VOID:
            raise Conflict(f"Invoice {invoice_id} is {invoice.status} and cannot be paid")
        answer = self._stripe.pay_invoice(invoice_id)
        state = answer.payment_state or ("paid" if answer.status == "paid" else "processing")
        url = answer.hosted_invoice_url if state == "requires_action" else None
        paid = read_invoice(self._ctx, invoice.customer_id, invoice_id)
        return PaymentResult(paid, None, False, state, url)


class StripePaymentMethods:
    def __init__(self, ctx: Context, *, stripe: StripeBillingService) -> None:
        self._ctx = ctx
        self._stripe = stripe

    def refresh(self, customer_id: str) -> None:
        self._stripe.payment_methods(customer_id)

    def add(
        self,
        customer_id: str,
        *,
        brand: str | None,
        last4: str | None,
        expiry: str | None,
        reference: str | None,
        make_default: bool,
    ) -> PaymentMethod:
        raise InvalidInput(
            f"With the {self._ctx.provider.name} provider, payment methods "
            "are added on its secure page: run 'payment add' without "
            "options for the link"
        )

    def add_url(self, customer_id: str) -> str | None:
        return self._stripe.add_payment_method_url(customer_id)

    def remove(self, customer_id: str, method: PaymentMethod) -> None:
        """Detached at Stripe (which refuses the only default one)."""
        self._stripe.remove_payment_method(customer_id, method.payment_method_id)

    def set_default(self, customer_id: str, payment_method_id: str) -> None:
        """The customer's invoice_settings.default_payment_method."""
        self._stripe.set_default_payment_method(customer_id, payment_method_id)
        self._stripe.payment_methods(customer_id)


class StripePortal:
    """Stripe's Customer Portal; ours does not act for Stripe's customers."""

    hosted_here = False

    def __init__(self, ctx: Context, *, stripe: StripeBillingService) -> None:
        self._stripe = stripe

    def link(self, customer_id: str, *, ttl: timedelta) -> PortalLink:
        """A Billing Portal session returning to ``NSELF_BASE_URL`` (it expires on its own)."""
        return PortalLink(self._stripe.portal_url(customer_id), None)


class StripeCycle:
    """Stripe closes its own periods; their invoices arrive by webhook."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def run(
        self,
        *,
        now: datetime | None = None,
        batch_size: int = BATCH_SIZE,
        subscription_id: str | None = None,
    ) -> CycleResult:
        result = CycleResult()
        result.skipped_reason = (
            f"periods are closed by the {self._ctx.provider.name} "
            "provider (its invoices arrive by webhook)"
        )
        return result
