"""Queries for invoices, their lines and payments."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, insert, select, update

from ..domain.invoicing import Invoice, InvoiceKind, InvoiceStatus, LineItem, LineKind
from ..domain.money import unit_price
from ..domain.periods import Period
from ..domain.seller import InvoiceTerms
from ..errors import Conflict
from .dialect import stored_enum, upsert_insert
from .tables import invoice_counters, invoice_lines, invoices, payments


@dataclass(frozen=True)
class NewInvoice:
    invoice: Invoice
    #: what made it (one invoice each): "close:<sub>:<period start>", "upgrade:..."
    source_key: str


def line_rows(invoice_id: str, lines: Sequence[LineItem]) -> list[dict[str, Any]]:
    return [
        {
            "invoice_id": invoice_id,
            "line_no": number,
            "kind": line.kind.value,
            "service_name": line.service,
            "description": line.description,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "amount": line.amount,
            "period_start": line.period.start if line.period else None,
            "period_end": line.period.end if line.period else None,
        }
        for number, line in enumerate(lines, start=1)
    ]


def invoice_row(
    new: NewInvoice, *, now: datetime, number: str | None = None, due_at: datetime | None = None
) -> dict[str, Any]:
    invoice = new.invoice
    return {
        "invoice_id": invoice.invoice_id,
        "customer_id": invoice.customer_id,
        "subscription_id": invoice.subscription_id,
        "kind": invoice.kind,
        "status": invoice.status,
        "currency": invoice.currency,
        "total_amount": invoice.total,
        "subtotal_amount": invoice.total,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "created_at": invoice.created_at or now,
        "finalized_at": now,
        "paid_at": invoice.paid_at,
        "source_key": new.source_key,
        "number": number or invoice.number,
        "due_at": due_at or invoice.due_at,
    }


def _lock_sequence(conn: Connection, prefix: str) -> int:
    """The last number of the prefix's sequence, its row locked until the transaction ends
    (made on first use). Every transaction that finalizes invoices takes this lock before it
    looks at what exists, so on PostgreSQL concurrent finalizations queue here (SQLite's
    BEGIN IMMEDIATE already serializes writers)."""
    insert = upsert_insert(conn)(invoice_counters).values(prefix=prefix, last_number=0)
    statement = insert.on_conflict_do_update(
        index_elements=["prefix"], set_={"last_number": invoice_counters.c.last_number}
    ).returning(invoice_counters.c.last_number)
    return int(conn.execute(statement).scalar_one())


def add_many(
    conn: Connection, new: Sequence[NewInvoice], *, now: datetime, terms: InvoiceTerms
) -> set[str]:
    """Insert finalized invoices with their lines, each numbered from the ``terms`` prefix's
    sequence in this transaction (gap-free: the numbers of a transaction that rolls back are
    never used); one whose source key exists already is skipped. Returns the ids inserted."""
    if not new:
        return set()
    last = _lock_sequence(conn, terms.prefix)
    existing = _present(conn, [item.source_key for item in new], invoices.c.source_key)
    fresh = [item for item in new if item.source_key not in existing]
    if not fresh:
        return set()
    rows = []
    for item in fresh:
        number = due_at = None
        if item.invoice.status != InvoiceStatus.DRAFT:
            last += 1
            number, due_at = terms.number(last), terms.due_at(now)
        rows.append(invoice_row(item, now=now, number=number, due_at=due_at))
    # a plain executemany (pipelined by psycopg) is several times faster than RETURNING
    # batches; ON CONFLICT still guards against a writer that got in between
    statement = upsert_insert(conn)(invoices).on_conflict_do_nothing(index_elements=["source_key"])
    conn.execute(statement, rows)
    inserted = _present(conn, [item.invoice.invoice_id for item in fresh])
    if len(inserted) != len(fresh):
        # a writer that does not take the sequence lock got in between: roll back rather
        # than leave a gap in the numbers
        raise Conflict("Invoices were written concurrently; run the command again")
    conn.execute(
        update(invoice_counters)
        .where(invoice_counters.c.prefix == terms.prefix)
        .values(last_number=last, updated_at=now)
    )
    rows = [
        line
        for item in new
        if item.invoice.invoice_id in inserted
        for line in line_rows(item.invoice.invoice_id, item.invoice.lines)
    ]
    if rows:
        conn.execute(insert(invoice_lines), rows)
    return inserted


def _present(conn: Connection, values: Sequence[str], column: Any = None) -> set[str]:
    """Which of ``values`` are in the invoice column (invoice_id by default)."""
    column = invoices.c.invoice_id if column is None else column
    found: set[str] = set()
    for start in range(0, len(values), 1000):
        found |= set(
            conn.execute(select(column).where(column.in_(values[start : start + 1000]))).scalars()
        )
    return found


def add(conn: Connection, new: NewInvoice, *, now: datetime, terms: InvoiceTerms) -> bool:
    return bool(add_many(conn, [new], now=now, terms=terms))


def _line(row: Any) -> LineItem:
    period = (
        Period(row.period_start, row.period_end)
        if row.period_start and row.period_end and row.period_end > row.period_start
        else None
    )
    try:
        kind = LineKind(row.kind)
    except ValueError:
        kind = LineKind.ADJUSTMENT
    return LineItem(
        kind,
        row.description,
        Decimal(row.amount),
        Decimal(row.quantity),
        unit_price(Decimal(row.unit_price)),
        row.service_name,
        period,
    )


def _invoice(row: Any, lines: Iterable[LineItem] = ()) -> Invoice:
    return Invoice(
        invoice_id=row.invoice_id,
        customer_id=row.customer_id,
        subscription_id=row.subscription_id,
        kind=stored_enum(InvoiceKind, row.kind, "invoice kind"),
        status=stored_enum(InvoiceStatus, row.status or "open", "invoice status"),
        currency=row.currency or "usd",
        total=Decimal(row.total_amount if row.total_amount is not None else 0),
        period_start=row.period_start,
        period_end=row.period_end,
        created_at=row.created_at,
        paid_at=row.paid_at,
        lines=tuple(lines),
        number=row.number,
        due_at=row.due_at,
    )


def get(
    conn: Connection, invoice_id: str, *, customer_id: str | None = None, for_update: bool = False
) -> Invoice | None:
    query = select(invoices).where(invoices.c.invoice_id == invoice_id)
    if customer_id is not None:
        query = query.where(invoices.c.customer_id == customer_id)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        return None
    lines = conn.execute(
        select(invoice_lines)
        .where(invoice_lines.c.invoice_id == invoice_id)
        .order_by(invoice_lines.c.line_no)
    )
    return _invoice(row, [_line(line) for line in lines])


def id_for_number(conn: Connection, customer_id: str, number: str) -> str | None:
    """The id of the customer's invoice with this number (the newest, should a mirrored
    provider's number repeat one of ours)."""
    return conn.execute(
        select(invoices.c.invoice_id)
        .where(invoices.c.customer_id == customer_id, invoices.c.number == number)
        .order_by(invoices.c.created_at.desc())
        .limit(1)
    ).scalar()


def list_for(conn: Connection, customer_id: str, *, limit: int | None = None) -> list[Invoice]:
    """The customer's invoices, newest first."""
    if limit is None:
        rows = conn.execute(_LIST_FOR, {"customer_id": customer_id})
    else:
        rows = conn.execute(_LIST_FOR_LIMITED, {"customer_id": customer_id, "limit": limit})
    return [_invoice(row) for row in rows]


# built once (the read API asks for it on every request: building it costs more than running it)
_LIST_FOR = (
    select(invoices)
    .where(invoices.c.customer_id == bindparam("customer_id"))
    .order_by(invoices.c.created_at.desc(), invoices.c.invoice_id.desc())
)
_LIST_FOR_LIMITED = _LIST_FOR.limit(bindparam("limit", type_=Integer))


def mark_paid(conn: Connection, invoice_id: str, *, paid_at: datetime) -> None:
    conn.execute(
        update(invoices)
        .where(invoices.c.invoice_id == invoice_id)
        .values(status="paid", paid_at=paid_at)
    )


@dataclass(frozen=True)
class Payment:
    payment_id: str
    invoice_id: str
    customer_id: str
    amount: Decimal
    currency: str
    status: str
    payment_method_id: str | None
    created_at: datetime | None


def _payment(row: Any) -> Payment:
    return Payment(
        row.payment_id,
        row.invoice_id,
        row.customer_id,
        Decimal(row.amount),
        row.currency,
        row.status,
        row.payment_method_id,
        row.created_at,
    )


def add_payment(conn: Connection, payment: Payment, *, idempotency_key: str, now: datetime) -> bool:
    """Record a payment once per idempotency key; False if it was recorded already."""
    row = conn.execute(
        upsert_insert(conn)(payments)
        .values(
            payment_id=payment.payment_id,
            invoice_id=payment.invoice_id,
            customer_id=payment.customer_id,
            amount=payment.amount,
            currency=payment.currency,
            status=payment.status,
            payment_method_id=payment.payment_method_id,
            created_at=payment.created_at or now,
            idempotency_key=idempotency_key,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(payments.c.payment_id)
    ).first()
    return row is not None


def payments_for(conn: Connection, invoice_id: str) -> list[Payment]:
    query = (
        select(payments).where(payments.c.invoice_id == invoice_id).order_by(payments.c.created_at)
    )
    return [_payment(row) for row in conn.execute(query)]
