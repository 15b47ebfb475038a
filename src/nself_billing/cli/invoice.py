"""``invoice list|show|download|pay``."""

from __future__ import annotations

import click

from ..render.invoices import (
    INVOICE_COLUMNS,
    invoice_line,
    invoice_record,
    invoice_text,
    payment_lines,
)
from .aliases import AliasedGroup
from .output import echo, echo_lines, emit_records, format_option
from .state import CliState, pass_state


@click.group("invoice", cls=AliasedGroup, aliases={"ls": "list"})
def invoice_group() -> None:
    """The current customer's invoices."""


@invoice_group.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many.")
@format_option()
@pass_state
def invoice_list(state: CliState, limit: int | None, output_format: str) -> None:
    """List recent invoices, newest first."""
    invoices = state.read(
        lambda quick: quick.invoices(limit), lambda b: b.invoices.list(b.customer_id, limit=limit)
    )
    if output_format != "table":
        emit_records([invoice_record(i) for i in invoices], output_format, columns=INVOICE_COLUMNS)
        return
    echo("Recent Invoices")
    if not invoices:
        echo("No invoices yet")
    for invoice in invoices:
        echo(invoice_line(invoice))


@invoice_group.command("show")
@click.argument("invoice_id")
@format_option()
@pass_state
def invoice_show(state: CliState, invoice_id: str, output_format: str) -> None:
    """Show an invoice: line items, totals and status."""
    billing = state.billing
    invoice = billing.invoices.get(billing.customer_id, invoice_id)
    if output_format == "table":
        echo(invoice_text(invoice))
    elif output_format == "json":
        emit_records([invoice_record(invoice, lines=True)], "json", columns=INVOICE_COLUMNS)
    else:
        emit_records([invoice_record(invoice)], "csv", columns=INVOICE_COLUMNS)


@invoice_group.command("download")
@click.argument("invoice_id")
@pass_state
def invoice_download(state: CliState, invoice_id: str) -> None:
    """Write the invoice as a PDF to the export directory."""
    billing = state.billing
    echo(f"Downloading invoice: {invoice_id}")
    path = billing.invoices.download(billing.customer_id, invoice_id)
    echo(f"Invoice downloaded: {path}")


@invoice_group.command("pay")
@click.argument("invoice_id")
@pass_state
def invoice_pay(state: CliState, invoice_id: str) -> None:
    """Pay an open invoice with the default payment method."""
    billing = state.billing
    result = billing.invoices.pay(billing.customer_id, invoice_id)
    echo_lines(payment_lines(invoice_id, result))


COMMANDS = [invoice_group]
