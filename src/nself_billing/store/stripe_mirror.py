"""Writes of the local mirror of Stripe objects: customers, subscriptions, invoices, payment
methods. Each function is one or two statements in the caller's transaction (received events
and each object's ordering state: ``webhook_events``; the journal of provider writes:
``provider_operations``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    delete,
    insert,
    or_,
    select,
    update,
)

from ..domain.remote import RemoteInvoice, RemotePaymentMethod, RemoteSubscription
from .prepared import Prepared, dialect_insert, insert_for
from .tables import (
    customers,
    invoice_lines,
    invoices,
    payment_methods,
    subscriptions,
)


def _statements(dialect: str) -> dict[str, Any]:
    customer = insert_for(dialect)(customers)
    return {
        "upsert_customer": customer.on_conflict_do_update(
            index_elements=["customer_id"],
            set_={
                "email": customer.excluded.email,
                "name": customer.excluded.name,
                "phone": customer.excluded.phone,
                "updated_at": customer.excluded.updated_at,
            },
        ),
        "set_default_pm": update(payment_methods)
        .where(payment_methods.c.customer_id == bindparam("b_customer_id"))
        .values(is_default=payment_methods.c.payment_method_id == bindparam("b_default_id")),
        "clear_default_pm": update(payment_methods)
        .where(payment_methods.c.customer_id == bindparam("b_customer_id"))
        .values(is_default=False),
    }


_PREPARED = Prepared(_statements)


def customer_known(conn: Connection, customer_id: str) -> bool:
    return (
        conn.execute(
            select(customers.c.customer_id).where(customers.c.customer_id == customer_id)
        ).first()
        is not None
    )


def ensure_customer(conn: Connection, customer_id: str, *, now: datetime) -> None:
    """A customer created outside the tool (Stripe Dashboard) gets its mirror row."""
    conn.execute(
        dialect_insert(conn)(customers)
        .values(customer_id=customer_id, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["customer_id"])
    )


def upsert_customer(
    conn: Connection,
    customer_id: str,
    *,
    email: str | None,
    name: str | None,
    phone: str | None,
    now: datetime,
) -> None:
    _PREPARED.run(
        conn,
        "upsert_customer",
        {
            "customer_id": customer_id,
            "email": email,
            "name": name,
            "phone": phone,
            "created_at": now,
            "updated_at": now,
        },
    )


#: subscription statuses Stripe never leaves
FINAL_SUBSCRIPTION_STATUSES = ("canceled", "incomplete_expired")


def upsert_subscription(
    conn: Connection, sub: RemoteSubscription, *, provider_time: datetime, now: datetime
) -> None:
    ensure_customer(conn, sub.customer_id, now=now)
    values: dict[str, Any] = {
        "customer_id": sub.customer_id,
        "status": sub.status,
        "current_period_start": sub.current_period_start,
        "current_period_end": sub.current_period_end,
        "cancel_at_period_end": sub.cancel_at_period_end,
        "billing_interval": sub.interval,
        "trial_end": sub.trial_end,
        "canceled_at": sub.canceled_at,
        "ended_at": sub.ended_at,
        "provider_schedule_id": sub.schedule_id,
        "provider_updated_at": provider_time,
        "updated_at": now,
    }
    if sub.plan_name:
        values["plan_name"] = sub.plan_name
    if sub.schedule_id is None:
        values["scheduled_plan_name"] = None
    exists = conn.execute(
        select(subscriptions.c.status).where(subscriptions.c.subscription_id == sub.subscription_id)
    ).first()
    if exists and exists.status in FINAL_SUBSCRIPTION_STATUSES and sub.status != exists.status:
        return  # an ended subscription never comes back (an older state read late)
    if exists:
        conn.execute(
            update(subscriptions)
            .where(subscriptions.c.subscription_id == sub.subscription_id)
            .values(**values)
        )
    else:
        conn.execute(
            insert(subscriptions).values(
                subscription_id=sub.subscription_id,
                created_at=sub.created or now,
                anchor_at=sub.current_period_start,
                plan_name=sub.plan_name or "unknown",
                **{k: v for k, v in values.items() if k != "plan_name"},
            )
        )


def set_scheduled_plan(conn: Connection, subscription_id: str, plan_name: str | None) -> None:
    conn.execute(
        update(subscriptions)
        .where(subscriptions.c.subscription_id == subscription_id)
        .values(scheduled_plan_name=plan_name)
    )


def upsert_invoice(
    conn: Connection, inv: RemoteInvoice, *, provider_time: datetime | None, now: datetime
) -> None:
    ensure_customer(conn, inv.customer_id, now=now)
    values: dict[str, Any] = {
        "customer_id": inv.customer_id,
        "total_amount": inv.total,
        "status": inv.status,
        "period_start": inv.period_start,
        "period_end": inv.period_end,
        "paid_at": inv.paid_at,
        "subscription_id": inv.subscription_id,
        "currency": inv.currency,
        "subtotal_amount": inv.subtotal,
        "number": inv.number,
        "finalized_at": inv.finalized_at,
        "hosted_invoice_url": inv.hosted_invoice_url,
        "invoice_pdf_url": inv.invoice_pdf,
        "provider_updated_at": provider_time,
    }
    statement = dialect_insert(conn)(invoices).values(
        invoice_id=inv.invoice_id, created_at=inv.created or now, kind="subscription", **values
    )
    # Stripe's invoice status only moves forward (draft, open, then paid, void or
    # uncollectible; uncollectible may still be paid): an older state read or delivered later,
    # say ``invoice.finalized`` applied after ``invoice.paid`` of the same second, never wins
    current, new = _status_rank(invoices.c.status), _status_rank(statement.excluded.status)
    keep = or_(
        invoices.c.status.in_(FINAL_INVOICE_STATUSES),
        and_(invoices.c.status == "uncollectible", statement.excluded.status != "paid"),
        new < current,
    )
    values["status"] = case((keep, invoices.c.status), else_=statement.excluded.status)
    values["paid_at"] = case((keep, invoices.c.paid_at), else_=statement.excluded.paid_at)
    conn.execute(statement.on_conflict_do_update(index_elements=["invoice_id"], set_=values))
    if inv.lines:  # Stripe's lines, as read: ``invoice show`` lists them
        conn.execute(delete(invoice_lines).where(invoice_lines.c.invoice_id == inv.invoice_id))
        conn.execute(
            insert(invoice_lines),
            [
                {
                    "invoice_id": inv.invoice_id,
                    "line_no": number,
                    "kind": line.kind.value,
                    "service_name": line.service,
                    "description": line.description,
                    "quantity": line.quantity if line.quantity is not None else 1,
                    "unit_price": 0,
                    "amount": line.amount,
                    "period_start": line.period_start,
                    "period_end": line.period_end,
                }
                for number, line in enumerate(inv.lines, start=1)
            ],
        )


#: invoice statuses Stripe never leaves
FINAL_INVOICE_STATUSES = ("paid", "void")
_INVOICE_RANK = {"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3}


def _status_rank(column: Any) -> Any:
    return case(*((column == s, r) for s, r in _INVOICE_RANK.items()), else_=0)


def upsert_payment_method(
    conn: Connection,
    pm: RemotePaymentMethod,
    customer_id: str,
    *,
    now: datetime,
    is_default: bool | None = None,
) -> None:
    ensure_customer(conn, customer_id, now=now)
    values: dict[str, Any] = {
        "customer_id": customer_id,
        "type": pm.type,
        "brand": pm.brand,
        "last4": pm.last4,
        "exp_month": pm.exp_month,
        "exp_year": pm.exp_year,
        "detached_at": None,
    }
    if is_default is not None:
        values["is_default"] = is_default
    statement = dialect_insert(conn)(payment_methods).values(
        payment_method_id=pm.payment_method_id, created_at=now, **({"is_default": False} | values)
    )
    conn.execute(statement.on_conflict_do_update(index_elements=["payment_method_id"], set_=values))


def detach_payment_method(conn: Connection, payment_method_id: str, *, at: datetime) -> None:
    conn.execute(
        update(payment_methods)
        .where(payment_methods.c.payment_method_id == payment_method_id)
        .values(detached_at=at, is_default=False)
    )


def set_default_payment_method(
    conn: Connection, customer_id: str, payment_method_id: str | None
) -> None:
    if payment_method_id:
        _PREPARED.run(
            conn,
            "set_default_pm",
            {"b_customer_id": customer_id, "b_default_id": payment_method_id},
        )
    else:
        _PREPARED.run(conn, "clear_default_pm", {"b_customer_id": customer_id})


def replace_payment_methods(
    conn: Connection, customer_id: str, methods: list[RemotePaymentMethod], *, now: datetime
) -> None:
    """Make the mirror equal to what Stripe listed: listed ones attached, the rest detached."""
    listed = {m.payment_method_id for m in methods}
    for method in methods:
        upsert_payment_method(conn, method, customer_id, now=now, is_default=method.is_default)
    stale = update(payment_methods).where(
        payment_methods.c.customer_id == customer_id, payment_methods.c.detached_at.is_(None)
    )
    if listed:
        stale = stale.where(payment_methods.c.payment_method_id.not_in(listed))
    conn.execute(stale.values(detached_at=now, is_default=False))
