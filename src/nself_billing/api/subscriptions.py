"""The spec's functions for subscriptions, invoices, payment methods and the portal.

Provider-neutral despite the ``stripe_`` names (they act through the configured provider).
Like their bash twins, the ``stripe_*`` functions print what the command prints and also
return the data; errors are raised as ``BillingError`` (the bash functions returned 1).
"""

from __future__ import annotations

from pathlib import Path

from ..domain.invoicing import Invoice
from ..domain.payments import PaymentMethod
from ..services.cycle import CycleResult
from ..services.invoices import PaymentResult
from ..services.subscriptions import PlanChange
from .handle import default_billing

__all__ = [
    "billing_cycle",
    "billing_get_subscription",
    "stripe_customer_portal",
    "stripe_invoice_download",
    "stripe_invoice_list",
    "stripe_invoice_pay",
    "stripe_invoice_show",
    "stripe_payment_add",
    "stripe_payment_list",
    "stripe_payment_remove",
    "stripe_payment_set_default",
    "stripe_subscription_cancel",
    "stripe_subscription_downgrade",
    "stripe_subscription_reactivate",
    "stripe_subscription_upgrade",
]


def billing_get_subscription() -> str:
    """``sub_id|plan_name|status|period_start|period_end|cancel_at_end`` of the current
    customer's subscription; ``NotFound`` without one."""
    billing = default_billing()
    return billing.subscriptions.current(billing.customer_id).pipe_line()


def _print_billed(change: PlanChange) -> None:
    """Whatever a function bills, it says so (invoice id and amount), as the commands do."""
    from ..render.subscriptions import closed_first_lines

    for line in closed_first_lines(change):
        print(line)


def _print_invoice(label: str, change: PlanChange) -> None:
    from ..domain.money import format_money

    if change.invoice is not None:
        print(
            f"{label}: {change.invoice.invoice_id} "
            f"{format_money(change.invoice.total, change.invoice.currency)} "
            f"({change.invoice.status})"
        )


def stripe_subscription_upgrade(plan_name: str) -> PlanChange:
    """Upgrade now (prorated invoice at once), as ``subscription upgrade``."""
    billing = default_billing()
    change = billing.subscriptions.upgrade(billing.customer_id, plan_name)
    _print_billed(change)
    print(f"Subscription upgraded: {change.previous_plan} -> {change.subscription.plan_name}")
    _print_invoice("Prorated charge: invoice", change)
    return change


def stripe_subscription_downgrade(plan_name: str) -> PlanChange:
    """Schedule a downgrade for the period end, as ``subscription downgrade``."""
    billing = default_billing()
    change = billing.subscriptions.downgrade(billing.customer_id, plan_name)
    _print_billed(change)
    print(
        f"Downgrade scheduled: {change.previous_plan} -> "
        f"{change.subscription.scheduled_plan_name} on "
        f"{change.subscription.period.end:%Y-%m-%d}"
    )
    return change


def stripe_subscription_cancel(immediate: bool | str = False) -> PlanChange:
    """Cancel at period end, or now with ``immediate`` (also ``"--immediate"`` as in bash)."""
    now = immediate is True or str(immediate).lower() in ("--immediate", "immediate", "true")
    billing = default_billing()
    change = billing.subscriptions.cancel(billing.customer_id, immediate=now)
    _print_billed(change)
    if now:
        print(f"Subscription canceled immediately: {change.subscription.subscription_id}")
        _print_invoice("Final invoice", change)
    else:
        print(f"Subscription will cancel at period end: {change.subscription.period.end:%Y-%m-%d}")
    return change


def stripe_subscription_reactivate() -> PlanChange:
    """Undo a cancellation scheduled for the period end."""
    billing = default_billing()
    change = billing.subscriptions.reactivate(billing.customer_id)
    _print_billed(change)
    print(f"Subscription reactivated: {change.subscription.subscription_id}")
    return change


def billing_cycle() -> CycleResult:
    """Close every period that has ended (as ``cycle``); safe to call any number of times."""
    return default_billing().cycle.run()


def stripe_invoice_list() -> list[Invoice]:
    """Print the current customer's invoices (as ``invoice list``) and return them."""
    from ..render.invoices import invoice_line

    billing = default_billing()
    invoices = billing.invoices.list(billing.customer_id)
    print("Recent Invoices")
    for invoice in invoices:
        print(invoice_line(invoice))
    return invoices


def stripe_invoice_show(invoice_id: str) -> Invoice:
    """Print an invoice with its lines and totals (as ``invoice show``) and return it;
    ``NotFound`` for an unknown invoice."""
    from ..render.invoices import invoice_text

    billing = default_billing()
    invoice = billing.invoices.get(billing.customer_id, invoice_id)
    print(invoice_text(invoice))
    return invoice


def stripe_invoice_download(invoice_id: str) -> Path:
    """Write the invoice as a PDF to ``<export dir>/<id>.pdf`` and return the path."""
    billing = default_billing()
    print(f"Downloading invoice: {invoice_id}")
    path = billing.invoices.download(billing.customer_id, invoice_id)
    print(f"Invoice downloaded: {path}")
    return path


def stripe_invoice_pay(invoice_id: str) -> PaymentResult:
    """Pay an open invoice with the default payment method (paying twice charges once)."""
    billing = default_billing()
    result = billing.invoices.pay(billing.customer_id, invoice_id)
    print(("Invoice already paid: " if result.already_paid else "Invoice paid: ") + invoice_id)
    return result


def stripe_payment_list() -> list[PaymentMethod]:
    """Print the saved payment methods (as ``payment list``) and return them."""
    from ..render.payments import method_line

    billing = default_billing()
    methods = billing.payment_methods.list(billing.customer_id)
    print("Payment Methods")
    for method in methods:
        print(method_line(method))
    return methods


def stripe_payment_add(
    *,
    brand: str | None = None,
    last4: str | None = None,
    exp: str | None = None,
    token: str | None = None,
    default: bool = False,
) -> PaymentMethod | None:
    """Record a payment method reference (never a card number). Without arguments, as the
    spec's ``stripe_payment_add``: print how to add one securely and return None."""
    billing = default_billing()
    if not any((brand, last4, exp, token)):
        from ..render.payments import add_instructions

        stripe = billing.stripe.enabled
        url = billing.payment_methods.add_url(billing.customer_id) if stripe else None
        for line in add_instructions(url, stripe=stripe):
            print(line)
        return None
    method = billing.payment_methods.add(
        billing.customer_id,
        brand=brand,
        last4=last4,
        expiry=exp,
        reference=token,
        make_default=default,
    )
    print(f"Payment method added: {method.payment_method_id}")
    return method


def stripe_payment_remove(payment_method_id: str) -> PaymentMethod:
    """Remove a payment method; the only default method cannot be removed (``Conflict``)."""
    billing = default_billing()
    method = billing.payment_methods.remove(billing.customer_id, payment_method_id)
    print(f"Payment method removed: {payment_method_id}")
    return method


def stripe_payment_set_default(payment_method_id: str) -> PaymentMethod:
    """Make a saved payment method the default and return it."""
    billing = default_billing()
    method = billing.payment_methods.set_default(billing.customer_id, payment_method_id)
    print(f"Default payment method: {payment_method_id}")
    return method


def stripe_customer_portal() -> str:
    """Print ``Customer Portal URL:`` and the link (as the bash tool) and return the URL."""
    billing = default_billing()
    link = billing.portal.link(billing.customer_id)
    print("Customer Portal URL:")
    print(link.url)
    print("Portal session created")
    return link.url
