"""``payment list|add|remove|default``: payment method references (never card numbers)."""

from __future__ import annotations

import click

from ..render.payments import (
    METHOD_COLUMNS,
    PORTAL_HINT,
    add_instructions,
    method_line,
    method_record,
)
from .aliases import AliasedGroup
from .output import echo, emit_records, format_option
from .state import CliState, pass_state


@click.group("payment", cls=AliasedGroup, aliases={"ls": "list"})
def payment_group() -> None:
    """The current customer's payment methods."""


@payment_group.command("list")
@format_option()
@pass_state
def payment_list(state: CliState, output_format: str) -> None:
    """List saved payment methods."""
    billing = state.billing
    methods = billing.payment_methods.list(billing.customer_id)
    if output_format != "table":
        emit_records([method_record(m) for m in methods], output_format, columns=METHOD_COLUMNS)
        return
    echo("Payment Methods")
    if not methods:
        echo("No payment methods on file")
    for method in methods:
        echo(method_line(method))
    echo(f"Use customer portal for full management: {PORTAL_HINT}")


@payment_group.command("add")
@click.option("--brand", help="Card brand (visa, mastercard, amex, ...).")
@click.option("--last4", help="The card's last four digits (never the whole number).")
@click.option("--exp", "expiry", metavar="MM/YYYY", help="Expiry month and year.")
@click.option("--token", "reference", help="A provider token or vault reference instead.")
@click.option("--default", "make_default", is_flag=True, help="Make it the default method.")
@pass_state
def payment_add(
    state: CliState,
    brand: str | None,
    last4: str | None,
    expiry: str | None,
    reference: str | None,
    make_default: bool,
) -> None:
    """Add a payment method reference (without options: how to add one securely)."""
    if not any((brand, last4, expiry, reference)):
        billing = state.billing
        stripe = billing.stripe.enabled
        url = billing.payment_methods.add_url(billing.customer_id) if stripe else None
        for line in add_instructions(url, stripe=stripe):
            echo(line)
        return
    billing = state.billing
    method = billing.payment_methods.add(
        billing.customer_id,
        brand=brand,
        last4=last4,
        expiry=expiry,
        reference=reference,
        make_default=make_default,
    )
    echo(
        f"Payment method added: {method.payment_method_id} ({method.label}"
        + (", default)" if method.is_default else ")")
    )


@payment_group.command("remove")
@click.argument("payment_method_id")
@pass_state
def payment_remove(state: CliState, payment_method_id: str) -> None:
    """Remove a payment method (not the only default one)."""
    billing = state.billing
    billing.payment_methods.remove(billing.customer_id, payment_method_id)
    echo(f"Payment method removed: {payment_method_id}")


@payment_group.command("default")
@click.argument("payment_method_id")
@pass_state
def payment_default(state: CliState, payment_method_id: str) -> None:
    """Set the default payment method for future invoices."""
    billing = state.billing
    method = billing.payment_methods.set_default(billing.customer_id, payment_method_id)
    echo(f"Default payment method: {method.payment_method_id} ({method.label})")


COMMANDS = [payment_group]
