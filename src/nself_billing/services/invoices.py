"""Invoice use cases: list, show, download as PDF, pay."""

from __future__ import annotations

import builtins
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..domain.invoicing import Invoice, InvoiceStatus
from ..errors import Conflict, InvalidInput, NotFound
from ..ids import new_id
from ..store import customers as customer_store
from ..store import invoices as store
from ..store import payment_methods as method_store
from . import events
from .context import Context
from .engines import InvoiceEngine

if TYPE_CHECKING:
    from ..domain.customers import Customer
    from ..store.db import Connection

SAFE_ID = re.compile(r"^[A-Za-z0-9_\-]{1,255}$")


@dataclass(frozen=True)
class PaymentResult:
    invoice: Invoice
    payment: store.Payment | None
    #: True when the invoice had been paid before this call (nothing was charged)
    already_paid: bool
    #: what the provider answered: ``paid``, ``processing`` (accepted, not settled) or
    #: ``requires_action`` (the customer completes it at ``action_url``)
    state: str = "paid"
    action_url: str | None = None


class InvoiceService:
    """Invoices on either engine: read from our tables (the mirror, with a remote provider,
    refreshed by ``engine`` first)."""

    def __init__(self, ctx: Context, *, engine: InvoiceEngine) -> None:
        self._ctx = ctx
        self._engine = engine

    def list(self, customer_id: str, *, limit: int | None = None) -> builtins.list[Invoice]:
        """Newest first; with a remote provider its invoices are read (and mirrored) first."""
        self._engine.refresh(customer_id, limit=limit)
        with self._ctx.db.read(transaction=False) as conn:  # one statement
            return store.list_for(conn, customer_id, limit=limit)

    def get(self, customer_id: str, invoice_id: str) -> Invoice:
        self._engine.refresh_one(invoice_id)
        return read_invoice(self._ctx, customer_id, invoice_id)

    def download(self, customer_id: str, invoice_id: str, *, directory: Path | None = None) -> Path:
        """Write the invoice as a PDF to ``<export dir>/<id>.pdf`` (whole or not at all)."""
        invoice = self.get(customer_id, invoice_id)
        if not SAFE_ID.match(invoice.invoice_id):
            raise InvalidInput(f"Invoice id cannot be a file name: {invoice.invoice_id!r}")
        return self._engine.write_pdf(invoice, directory)

    def pay(self, customer_id: str, invoice_id: str) -> PaymentResult:
        """Charge an open invoice with the default payment method; paying a paid invoice
        again charges nothing (the payment is keyed by the invoice)."""
        return self._engine.pay(self.get(customer_id, invoice_id))


def read_invoice(ctx: Context, customer_id: str, invoice_id: str) -> Invoice:
    """The invoice by its id or, as customers quote it, by its number (``INV-000123``)."""
    with ctx.db.read() as conn:
        invoice = store.get(conn, invoice_id, customer_id=customer_id)
        if invoice is None:
            numbered = store.id_for_number(conn, customer_id, invoice_id)
            if numbered is not None:
                invoice = store.get(conn, numbered, customer_id=customer_id)
    if invoice is None:
        raise NotFound(f"Invoice not found: {invoice_id}")
    return invoice


class LocalInvoices:
    """The local engine's invoices: issued by the cycle and upgrades, rendered here, paid
    against the method on file."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def refresh(self, customer_id: str, *, limit: int | None) -> None:
        """Nothing to read: our tables are the truth."""

    def refresh_one(self, invoice_id: str) -> None:
        """Nothing to read: our tables are the truth."""

    def write_pdf(self, invoice: Invoice, directory: Path | None) -> Path:
        with self._ctx.db.read() as conn:
            customer = customer_store.get(conn, invoice.customer_id)
            data = invoice_pdf_bytes(self._ctx, conn, invoice, customer)
        target_dir = directory or self._ctx.settings.export_dir
        target = target_dir / f"{invoice.invoice_id}.pdf"
        try:
            target_dir.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(
                dir=target_dir, prefix=".invoice-", suffix=".pdf.part"
            )
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
            os.replace(temporary, target)
        except OSError as error:
            raise InvalidInput(f"Cannot write {target}: {error.strerror}") from None
        return target

    def pay(self, invoice: Invoice) -> PaymentResult:
        invoice_id, customer_id = invoice.invoice_id, invoice.customer_id
        if invoice.is_paid:
            return PaymentResult(invoice, self._payment_of(invoice_id), True)
        if invoice.status in (InvoiceStatus.VOID, InvoiceStatus.DRAFT):
            raise Conflict(f"Invoice {invoice_id} is {invoice.status} and cannot be paid")
        with self._ctx.db.read() as conn:
            method = method_store.default_for(conn, customer_id)
        if method is None and invoice.total > 0:
            raise InvalidInput(
                "No payment method on file (add one: nself tenant billing payment add)"
            )
        # offline there is no one to charge: the payment is recorded against the method on
        # file and the operator collects it outside the tool
        key = f"pay:{invoice_id}"
        method_id = method.payment_method_id if method else None
        now = self._ctx.clock()
        payment = store.Payment(
            new_id("py", 16),
            invoice_id,
            customer_id,
            invoice.total,
            invoice.currency,
            "succeeded",
            method_id,
            now,
        )
        with self._ctx.db.write() as conn:
            current = store.get(conn, invoice_id, customer_id=customer_id, for_update=True)
            if current is None:
                raise NotFound(f"Invoice not found: {invoice_id}")
            if current.is_paid:  # a concurrent pay won: nothing more to record
                return PaymentResult(current, None, True)
            store.add_payment(conn, payment, idempotency_key=key, now=now)
            store.mark_paid(conn, invoice_id, paid_at=now)
            paid = store.get(conn, invoice_id)
            assert paid is not None
            events.record(
                self._ctx,
                conn,
                "invoice.paid",
                customer_id=customer_id,
                data=events.invoice_data(paid) | {"payment": payment.payment_id},
            )
        return PaymentResult(paid, payment, False)

    def _payment_of(self, invoice_id: str) -> store.Payment | None:
        with self._ctx.db.read() as conn:
            found = store.payments_for(conn, invoice_id)
        return found[-1] if found else None


def invoice_pdf_bytes(
    ctx: Context, conn: Connection, invoice: Invoice, customer: Customer | None
) -> bytes:
    """The local engine's PDF of ``invoice``: the seller, and how this customer pays (its
    default payment method, the portal when the service has a public address)."""
    from .invoice_pdf import PdfContext, render_pdf

    method = method_store.default_for(conn, invoice.customer_id)
    context = PdfContext(
        ctx.seller,
        default_method=method.label[:1].upper() + method.label[1:] if method else None,
        portal=ctx.settings.base_url is not None,
    )
    return render_pdf(invoice, customer, context)
