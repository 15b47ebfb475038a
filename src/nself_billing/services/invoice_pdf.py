"""An invoice as a one-page PDF (fpdf2, imported only when a PDF is made)."""

from __future__ import annotations

from datetime import datetime

from ..domain.customers import Customer
from ..domain.humanize import plain_number
from ..domain.invoicing import Invoice
from ..domain.money import format_money
from ..domain.periods import days_label


def _text(value: str) -> str:
    """The PDF core fonts cover Latin-1 only; anything else becomes '?'."""
    return value.replace("•", "*").encode("latin-1", "replace").decode("latin-1")


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else "-"


def render_pdf(invoice: Invoice, customer: Customer | None) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(f"Invoice {invoice.invoice_id}")
    pdf.set_creator("nself-billing")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, _text(f"Invoice {invoice.invoice_id}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    details = [
        ("Customer", customer.name if customer and customer.name else invoice.customer_id),
        ("Email", customer.email if customer and customer.email else "-"),
        ("Customer ID", invoice.customer_id),
        ("Subscription", invoice.subscription_id or "-"),
        (
            "Period",
            days_label(invoice.period_start, invoice.period_end)
            if invoice.period_start and invoice.period_end
            else "-",
        ),
        ("Issued", _day(invoice.created_at)),
        ("Status", invoice.status + (f" ({_day(invoice.paid_at)})" if invoice.paid_at else "")),
    ]
    for label, value in details:
        pdf.cell(35, 6, _text(label + ":"))
        pdf.cell(0, 6, _text(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    widths = (100, 25, 30, 30)
    pdf.set_font("Helvetica", "B", 10)
    for width, title, align in zip(
        widths,
        ("Description", "Quantity", "Unit price", "Amount"),
        ("L", "R", "R", "R"),
        strict=True,
    ):
        pdf.cell(width, 7, title, border="B", align=align)
    pdf.ln()
    pdf.set_font("Helvetica", "", 9)
    for line in invoice.lines:
        pdf.cell(widths[0], 6, _text(line.description[:70]))
        pdf.cell(widths[1], 6, plain_number(line.quantity), align="R")
        pdf.cell(widths[2], 6, "$" + plain_number(line.unit_price), align="R")
        pdf.cell(widths[3], 6, format_money(line.amount, invoice.currency), align="R")
        pdf.ln()
    if not invoice.lines:
        pdf.cell(0, 6, "(no line items)", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(sum(widths[:3]), 8, "Total", border="T", align="R")
    pdf.cell(widths[3], 8, format_money(invoice.total, invoice.currency), border="T", align="R")
    pdf.ln()
    return bytes(pdf.output())
