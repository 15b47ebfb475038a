"""An invoice as a one-page PDF (fpdf2, imported only when a PDF is made): the seller and the
customer, the invoice number beside its id, dates (issue, due, period), currency, line items,
totals, and how to pay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..domain.customers import Customer
from ..domain.humanize import plain_number
from ..domain.invoicing import Invoice, InvoiceStatus
from ..domain.money import format_money
from ..domain.periods import days_label
from ..domain.seller import Seller, how_to_pay

#: A4 with 15 mm margins
PAGE_WIDTH = 180.0
MUTED = (87, 96, 106)
RULE = (208, 215, 222)


@dataclass(frozen=True)
class PdfContext:
    """What the invoice needs besides itself: who sells, and what pays it."""

    seller: Seller
    #: the label of the customer's default payment method (``visa •••• 4242, ...``), if any
    default_method: str | None = None
    #: whether to point the customer at the billing portal for payment methods
    portal: bool = False


def _text(value: str) -> str:
    """The PDF core fonts cover Latin-1 only; anything else becomes '?'."""
    return value.replace("•", "*").replace("→", "->").encode("latin-1", "replace").decode("latin-1")


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else "-"


def _unit_price(value: Decimal, currency: str) -> str:
    number = plain_number(value)
    return f"${number}" if currency.lower() == "usd" else f"{number} {currency.upper()}"


def _fit(pdf: Any, text: str, width: float) -> str:
    """Shortened with an ellipsis to fit ``width`` millimetres in the current font."""
    text = _text(text)
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "...") > width:
        text = text[:-1]
    return text + "..."


def render_pdf(invoice: Invoice, customer: Customer | None, context: PdfContext) -> bytes:
    from fpdf import FPDF

    seller = context.seller
    title = f"Invoice {invoice.number or invoice.invoice_id}"
    pdf = FPDF(format="A4")
    pdf.set_title(_text(title))
    pdf.set_author(_text(seller.name or "nself-billing"))
    pdf.set_creator("nself-billing")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()

    # the seller (left) and the document's title and number (right)
    top = pdf.get_y()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(110, 8, _fit(pdf, seller.name or "(seller not configured)", 110))
    pdf.set_font("Helvetica", "B", 20)
    pdf.cell(70, 8, "INVOICE", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.set_text_color(*MUTED)
    seller_lines = list(seller.address)
    if seller.tax_id:
        seller_lines.append(f"Tax ID: {seller.tax_id}")
    if seller.email:
        seller_lines.append(seller.email)
    if not seller.name:
        seller_lines.append("Set the BILLING_SELLER_* variables (README: Configuration)")
    for text in seller_lines:
        pdf.cell(110, 4.6, _fit(pdf, text, 110), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_xy(125, top + 9)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(70, 6, _text(invoice.number or "(no number)"), align="R")
    pdf.set_y(max(pdf.get_y() + 8, top + 9 + 4.6 * (len(seller_lines) + 1)))
    pdf.set_draw_color(*RULE)
    pdf.line(15, pdf.get_y(), 195, pdf.get_y())
    pdf.ln(4)

    # bill to (left), the invoice's facts (right)
    block = pdf.get_y()
    pdf.set_font("Helvetica", "B", 9)
    pdf.set_text_color(*MUTED)
    pdf.cell(90, 5, "BILL TO", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("Helvetica", "B", 10)
    name = customer.name if customer and customer.name else invoice.customer_id
    pdf.cell(90, 5, _fit(pdf, name, 90), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    for detail in (
        customer.email if customer and customer.email else None,
        f"Customer ID: {invoice.customer_id}",
    ):
        if detail:
            pdf.cell(90, 4.6, _fit(pdf, detail, 90), new_x="LMARGIN", new_y="NEXT")
    left_end = pdf.get_y()
    settled = invoice.status in (InvoiceStatus.PAID, InvoiceStatus.VOID)
    amount_due = Decimal(0) if settled else invoice.total
    facts = [
        ("Invoice number", invoice.number or "-"),
        ("Invoice ID", invoice.invoice_id),
        ("Date of issue", _day(invoice.created_at)),
        ("Date due", _day(invoice.due_at) if invoice.due_at else "on receipt"),
        ("Currency", invoice.currency.upper()),
        ("Status", invoice.status + (f" ({_day(invoice.paid_at)})" if invoice.paid_at else "")),
    ]
    pdf.set_y(block)
    for label, value in facts:
        pdf.set_x(110)
        pdf.set_font("Helvetica", "", 9)
        pdf.set_text_color(*MUTED)
        pdf.cell(32, 4.8, label)
        pdf.set_text_color(0, 0, 0)
        pdf.set_font("Helvetica", "B" if label == "Invoice number" else "", 9)
        pdf.cell(53, 4.8, _fit(pdf, value, 53), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(left_end, pdf.get_y()) + 4)

    # the amount due, as the first thing read after the names
    pdf.set_font("Helvetica", "B", 13)
    currency = invoice.currency.upper()
    if invoice.status == InvoiceStatus.VOID:
        headline = "Void: nothing to pay"
    elif amount_due:
        due = f"due {_day(invoice.due_at)}" if invoice.due_at else "due on receipt"
        headline = f"{format_money(amount_due, invoice.currency)} {currency} {due}"
    else:
        headline = f"Paid: {format_money(invoice.total, invoice.currency)} {currency}"
    pdf.cell(0, 8, _text(headline), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    period = (
        days_label(invoice.period_start, invoice.period_end)
        if invoice.period_start and invoice.period_end
        else "-"
    )
    pdf.cell(
        0,
        5,
        _text(f"Billing period: {period}   Subscription: {invoice.subscription_id or '-'}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)

    # line items
    widths = (100, 24, 28, 28)
    pdf.set_font("Helvetica", "B", 9)
    for width, heading, align in zip(
        widths,
        ("Description", "Quantity", "Unit price", f"Amount ({invoice.currency.upper()})"),
        ("L", "R", "R", "R"),
        strict=True,
    ):
        pdf.cell(width, 7, heading, border="B", align=align)
    pdf.ln()
    pdf.set_font("Helvetica", "", 9)
    for line in invoice.lines:
        pdf.cell(widths[0], 6.5, _fit(pdf, line.description, widths[0] - 2))
        pdf.cell(widths[1], 6.5, plain_number(line.quantity), align="R")
        pdf.cell(widths[2], 6.5, _unit_price(line.unit_price, invoice.currency), align="R")
        pdf.cell(widths[3], 6.5, format_money(line.amount, invoice.currency), align="R")
        pdf.ln()
    if not invoice.lines:
        pdf.cell(0, 6.5, "(no line items)", new_x="LMARGIN", new_y="NEXT")
    pdf.line(15, pdf.get_y(), 195, pdf.get_y())
    pdf.ln(1)
    paid = invoice.total if invoice.status == InvoiceStatus.PAID else Decimal(0)
    totals = [
        ("Subtotal", invoice.total, False),
        ("Total", invoice.total, False),
        ("Amount paid", paid, False),
        (f"Amount due ({invoice.currency.upper()})", amount_due, True),
    ]
    for caption, amount, strong in totals:
        pdf.set_font("Helvetica", "B" if strong else "", 10 if strong else 9)
        pdf.cell(sum(widths[:2]), 6, "")
        pdf.cell(widths[2], 6, _text(caption), align="R")
        pdf.cell(widths[3], 6, format_money(amount, invoice.currency), align="R")
        pdf.ln()
    pdf.ln(6)

    # how to pay
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 6, "How to pay", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    for sentence in how_to_pay(
        status=invoice.status,
        paid_at=invoice.paid_at,
        seller=seller,
        default_method=context.default_method,
        portal_hint=context.portal,
    ):
        pdf.multi_cell(0, 4.8, _text(sentence), new_x="LMARGIN", new_y="NEXT")
    if invoice.number and amount_due:
        pdf.ln(1)
        pdf.set_text_color(*MUTED)
        pdf.multi_cell(
            0,
            4.8,
            _text(f"Please quote the invoice number {invoice.number} with your payment."),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.set_text_color(0, 0, 0)
    return bytes(pdf.output())
