"""How an invoice looks: its record (with its lines for ``invoice show``), the spec's one-line
form, and its text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..domain.humanize import plain_number
from ..domain.invoicing import Invoice
from ..domain.money import format_money, round_money
from .formats import plain_record, with_old_names

if TYPE_CHECKING:
    from ..services.invoices import PaymentResult

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
    """The one record of an invoice (money to the cent): ``invoice list|show --format json``
    (``show`` with its ``lines``), and each of ``GET /v1/invoices`` (with its older name)."""
    record: dict[str, Any] = {
        "invoice_id": invoice.invoice_id,
        "customer_id": invoice.customer_id,
        "subscription_id": invoice.subscription_id,
        "kind": invoice.kind,
        "status": invoice.status,
        "total_amount": round_money(invoice.total),
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
                "amount": round_money(line.amount),
            }
            for line in invoice.lines
        ]
    return record


#: the HTTP API's name from before the one record, still answered beside the record's own
HTTP_OLD_NAMES = {"total": "total_amount"}


def invoice_http_record(invoice: Invoice) -> dict[str, Any]:
    """One invoice of ``GET /v1/invoices``: the record, as JSON, with the older name."""
    return plain_record(with_old_names(invoice_record(invoice), HTTP_OLD_NAMES))


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


def payment_lines(invoice_id: str, result: PaymentResult) -> list[str]:
    """``invoice pay``: paid (with the method and the payment), already paid, or waiting."""
    amount = format_money(result.invoice.total, result.invoice.currency)
    if result.already_paid:
        return [f"Invoice already paid: {invoice_id} ({amount})"]
    if result.state == "requires_action":
        return [
            f"Payment requires the customer's action: {invoice_id} {amount} (still open)",
            f"Complete it at: {result.action_url}",
        ]
    if result.state == "processing":
        return [f"Payment processing: {invoice_id} {amount} (open until the payment settles)"]
    via = (
        f" with {result.payment.payment_method_id}"
        if result.payment and result.payment.payment_method_id
        else ""
    )
    lines = [f"Invoice paid: {invoice_id} {amount}{via}"]
    if result.payment is not None:
        lines.append(f"Payment: {result.payment.payment_id}")
    return lines
