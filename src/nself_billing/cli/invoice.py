"""``invoice list|show|download|pay``."""

from __future__ import annotations

from typing import Any

import click

from ..domain.humanize import plain_number
from ..domain.invoicing import Invoice
from ..domain.money import format_money
from .aliases import AliasedGroup
from .render import echo, emit_records, format_option
from .state import CliState, pass_state

INVOICE_COLUMNS = (
    "invoice_id",
    "kind",
    "status",
    "total_amount",
    "currency",
    "period_start",
    "period_end",
    "created_at",
    "paid_at",
    "number",
    "due_at",
)


def _day(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d") if moment else "-"


def invoice_record(invoice: Invoice, *, lines: bool = False) -> dict[str, Any]:
    record: dict[str, Any] = {
        "invoice_id": invoice.invoice_id,
        "customer_id": invoice.customer_id,
        "subscription_id": invoice.subscription_id,
        "kind": invoice.kind,
        "status": invoice.status,
        "total_amount": invoice.total,
        "currency": invoice.currency,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "created_at": invoice.created_at,
        "paid_at": invoice.paid_at,
        "number": invoice.number,
        "due_at": invoice.due_at,
    }
    if lines:
        record["lines"] = [
            {
                "kind": line.kind.value,
                "service": line.service,
                "description": line.description,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "amount": line.amount,
            }
            for line in invoice.lines
        ]
    return record


def invoice_line(invoice: Invoice) -> str:
    """The spec's ``in_... 2026-01-01 $99.00 paid``, then the invoice number if it has one."""
    line = (
        f"{invoice.invoice_id} {_day(invoice.created_at)} "
        f"{format_money(invoice.total, invoice.currency)} {invoice.status}"
    )
    return f"{line} {invoice.number}" if invoice.number else line


def invoice_text(invoice: Invoice) -> str:
    numbered = f" (number {invoice.number})" if invoice.number else ""
    out = [
        f"Invoice: {invoice.invoice_id}{numbered}",
        "invoice_id | total_amount | status | period_start | period_end | created_at",
        f"{invoice.invoice_id} | {invoice.total:.2f} | {invoice.status} | "
        f"{_day(invoice.period_start)} | {_day(invoice.period_end)} | {_day(invoice.created_at)}",
        "",
        "Line items:",
    ]
    width = max([len(line.description) for line in invoice.lines] + [20])
    for number, line in enumerate(invoice.lines, start=1):
        quantity = "" if line.quantity == 1 else f"  x{plain_number(line.quantity)}"
        out.append(
            f"  {number}. {line.description:<{width}}  "
            f"{format_money(line.amount, invoice.currency):>12}{quantity}"
        )
    if not invoice.lines:
        out.append("  (none)")
    out.append(f"Total: {format_money(invoice.total, invoice.currency)}")
    if invoice.paid_at:
        out.append(f"Paid: {_day(invoice.paid_at)}")
    elif invoice.due_at:
        out.append(f"Due: {_day(invoice.due_at)}")
    return "\n".join(out)


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
    amount = format_money(result.invoice.total, result.invoice.currency)
    if result.already_paid:
        echo(f"Invoice already paid: {invoice_id} ({amount})")
        return
    if result.state == "requires_action":
        echo(f"Payment requires the customer's action: {invoice_id} {amount} (still open)")
        echo(f"Complete it at: {result.action_url}")
        return
    if result.state == "processing":
        echo(f"Payment processing: {invoice_id} {amount} (open until the payment settles)")
        return
    via = (
        f" with {result.payment.payment_method_id}"
        if result.payment and result.payment.payment_method_id
        else ""
    )
    echo(f"Invoice paid: {invoice_id} {amount}{via}")
    if result.payment is not None:
        echo(f"Payment: {result.payment.payment_id}")


COMMANDS = [invoice_group]
