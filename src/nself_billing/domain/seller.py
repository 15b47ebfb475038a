"""Who issues the invoices and on what terms: the seller's details, the invoice numbering and
the due date, and how a customer pays. Read from configuration (``settings.py``, which checks
the values) by the service layer; pure here.

Invoice numbers follow Stripe's shape, ``<PREFIX>-<sequence>``: one gap-free sequence per
prefix, given to an invoice in the transaction that finalizes it (``store/invoices.py``), so
a number is never skipped nor given twice whatever the number of concurrent writers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .invoicing import InvoiceStatus

DEFAULT_INVOICE_PREFIX = "INV"
#: Stripe's default ``days_until_due`` for invoices sent for payment
DEFAULT_DUE_DAYS = 30
#: digits of the sequence part (more once a series passes 999,999)
SEQUENCE_DIGITS = 6


@dataclass(frozen=True)
class InvoiceTerms:
    """How invoices are numbered and when they are due."""

    prefix: str = DEFAULT_INVOICE_PREFIX
    due_days: int = DEFAULT_DUE_DAYS

    def number(self, sequence: int) -> str:
        return f"{self.prefix}-{sequence:0{SEQUENCE_DIGITS}d}"

    def due_at(self, finalized_at: datetime) -> datetime:
        return finalized_at + timedelta(days=self.due_days)


@dataclass(frozen=True)
class Seller:
    """The operator as an invoice names it."""

    name: str | None = None
    address: tuple[str, ...] = field(default=())
    tax_id: str | None = None
    email: str | None = None
    #: how to pay an open invoice (bank details, a link), printed on every open invoice
    payment_instructions: str | None = None


def text_lines(value: str | None) -> tuple[str, ...]:
    """Lines of one configuration value, separated by newlines (which a .env value or a shell
    variable may also write as ``\\n``)."""
    if not value:
        return ()
    text = value.replace("\\n", "\n")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def address_lines(value: str | None) -> tuple[str, ...]:
    """An address from one configuration value: lines separated by newlines or by ``;``."""
    return text_lines(value.replace(";", "\n") if value else value)


def how_to_pay(
    *,
    status: InvoiceStatus,
    paid_at: datetime | None,
    seller: Seller,
    default_method: str | None,
    portal_hint: bool,
) -> tuple[str, ...]:
    """The payment section of an invoice: nothing to do for a paid one; otherwise the
    operator's instructions, the method on file that will be charged, and whom to ask."""
    if status == InvoiceStatus.PAID:
        day = f" on {paid_at:%Y-%m-%d}" if paid_at else ""
        return (f"Paid{day}. Thank you.",)
    if status in (InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE):
        return (f"This invoice is {status}: nothing is to be paid.",)
    lines: list[str] = []
    if default_method:
        lines.append(f"The amount due will be charged to your {default_method}.")
    if seller.payment_instructions:
        lines.extend(text_lines(seller.payment_instructions))
    if not default_method and not seller.payment_instructions:
        lines.append("No payment method is on file.")
    if portal_hint:
        lines.append("Add or change a payment method in your billing portal.")
    if seller.email:
        lines.append(f"Questions about this invoice: {seller.email}")
    return tuple(lines)
