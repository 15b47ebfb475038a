"""Writes of the local mirror of Stripe objects (customers, subscriptions, invoices, payment
methods) and of received webhook events. Each function is one or two statements in the
caller's transaction."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    delete,
    exc,
    insert,
    or_,
    select,
    update,
)

from ..domain.remote import RemoteInvoice, RemotePaymentMethod, RemoteSubscription
from .tables import (
    customers,
    invoice_lines,
    invoices,
    payment_methods,
    provider_operations,
    stripe_object_state,
    subscriptions,
    webhook_events,
)


def _insert(conn: Connection) -> Any:
    return _insert_for(conn.dialect.name)


def _insert_for(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


@functools.cache
def _prepared(dialect: str) -> dict[str, Any]:
    """The statements of the webhook hot path, built once per dialect: executed with a
    parameter dict, a prebuilt statement skips SQLAlchemy's per-call construction and cache-key
    work (most of the cost of a webhook delivery when they were built per call)."""
    insert_ = _insert_for(dialect)
    event = insert_(webhook_events).on_conflict_do_nothing(index_elements=["event_id"])
    state = insert_(stripe_object_state)
    customer = insert_(customers)
    return {
        "store_event": event.returning(webhook_events.c.event_id),
        "advance_object": state.on_conflict_do_update(
            index_elements=["object_id"],
            set_={
                "last_event_created": state.excluded.last_event_created,
                "last_event_id": state.excluded.last_event_id,
            },
            where=stripe_object_state.c.last_event_created <= state.excluded.last_event_created,
        ).returning(stripe_object_state.c.object_id),
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


_PG_SQL: dict[tuple[str, tuple[str, ...]], tuple[str, dict[str, Any]]] = {}


def _run(conn: Connection, name: str, params: dict[str, Any]) -> Any:
    """The first row (or None) of prepared statement ``name`` run with ``params`` in ``conn``'s
    transaction. PostgreSQL runs its SQL, compiled once, on the psycopg connection underneath
    (prepared server-side; a third of SQLAlchemy's per-statement cost), with errors wrapped as
    SQLAlchemy's so ``Database.write()`` translates them as usual; SQLite runs it through
    SQLAlchemy (its datetimes need the column types' conversion)."""
    if conn.dialect.name != "postgresql":
        result = conn.execute(_prepared(conn.dialect.name)[name], params)
        return result.first() if result.returns_rows else None
    key = (name, tuple(params))
    compiled = _PG_SQL.get(key)
    if compiled is None:
        statement = _prepared("postgresql")[name].compile(
            dialect=conn.dialect, column_keys=list(params)
        )
        compiled = _PG_SQL[key] = (statement.string, dict(statement.params))
    sql, defaults = compiled
    driver: Any = conn.connection.driver_connection
    dbapi_error: type[Exception] = conn.dialect.dbapi.Error  # type: ignore[union-attr]
    try:
        cursor = driver.execute(sql, {**defaults, **params}, prepare=True)
        return cursor.fetchone() if cursor.description else None
    except dbapi_error as error:
        raise exc.DBAPIError.instance(sql, params, error, dbapi_error) from error


def store_event(
    conn: Connection,
    *,
    event_id: str,
    type_: str,
    api_version: str | None,
    created: datetime | None,
    payload: str,
    now: datetime,
    status: str,
    error: str | None = None,
) -> bool:
    """Record a received event with the outcome of applying it (in the same transaction);
    False, and nothing written, when it was received before (a duplicate delivery)."""
    inserted = _run(
        conn,
        "store_event",
        {
            "event_id": event_id,
            "type": type_,
            "api_version": api_version,
            "created": created,
            "payload": payload,
            "received_at": now,
            "processed_at": now,
            "status": status,
            "error": error,
        },
    )
    return inserted is not None


def stamp_object(conn: Connection, *, object_id: str, object_type: str, at: datetime) -> None:
    """Record that the object was read from the provider at ``at``: an event made before that
    read describes an older state, and is stale when it arrives later."""
    advance_object(
        conn, object_id=object_id, object_type=object_type, created=at, event_id="api-read"
    )


def customer_known(conn: Connection, customer_id: str) -> bool:
    return (
        conn.execute(
            select(customers.c.customer_id).where(customers.c.customer_id == customer_id)
        ).first()
        is not None
    )


def advance_object(
    conn: Connection, *, object_id: str, object_type: str, created: datetime, event_id: str
) -> bool:
    """Move an object's last-applied event time forward; False (nothing changed) when a newer
    event was already applied. One conditional upsert, so concurrent deliveries cannot both
    win against each other."""
    applied = _run(
        conn,
        "advance_object",
        {
            "object_id": object_id,
            "object_type": object_type,
            "last_event_created": created,
            "last_event_id": event_id,
        },
    )
    return applied is not None


def ensure_customer(conn: Connection, customer_id: str, *, now: datetime) -> None:
    """A customer created outside the tool (Stripe Dashboard) gets its mirror row."""
    conn.execute(
        _insert(conn)(customers)
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
    _run(
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
    statement = _insert(conn)(invoices).values(
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
    statement = _insert(conn)(payment_methods).values(
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
        _run(
            conn,
            "set_default_pm",
            {"b_customer_id": customer_id, "b_default_id": payment_method_id},
        )
    else:
        _run(conn, "clear_default_pm", {"b_customer_id": customer_id})


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


#: Stripe keeps idempotency keys for 24 hours: an older unfinished operation gets a new key
OPERATION_KEY_LIFETIME = timedelta(hours=23)


def open_operation(conn: Connection, operation: str, target: str, *, now: datetime) -> str:
    """The idempotency key of ``operation`` on ``target``: the one of an unfinished earlier
    attempt (a crash or a network failure left its outcome unknown), else a new one."""
    row = conn.execute(
        select(provider_operations.c.op_key).where(
            provider_operations.c.operation == operation,
            provider_operations.c.target == target,
            provider_operations.c.completed_at.is_(None),
            provider_operations.c.created_at > now - OPERATION_KEY_LIFETIME,
        )
    ).first()
    if row is not None:
        return str(row[0])
    key = f"nself:{operation}:{target}:{uuid.uuid4().hex}"[:255]
    conn.execute(
        insert(provider_operations).values(
            op_key=key, operation=operation, target=target, created_at=now
        )
    )
    return key


def close_operation(conn: Connection, op_key: str, *, now: datetime) -> None:
    conn.execute(
        update(provider_operations)
        .where(provider_operations.c.op_key == op_key)
        .values(completed_at=now)
    )
