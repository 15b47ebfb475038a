"""Queries for billing_payment_methods (detached methods are kept, marked ``detached_at``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ..domain.payments import PaymentMethod
from .tables import payment_methods


def _method(row: Any) -> PaymentMethod:
    return PaymentMethod(
        row.payment_method_id,
        row.customer_id,
        row.type,
        row.brand,
        row.last4,
        row.exp_month,
        row.exp_year,
        bool(row.is_default),
        row.reference,
        row.created_at,
    )


def _attached(customer_id: str) -> Any:
    return (payment_methods.c.customer_id == customer_id) & payment_methods.c.detached_at.is_(None)


def list_for(conn: Connection, customer_id: str) -> list[PaymentMethod]:
    query = (
        select(payment_methods)
        .where(_attached(customer_id))
        .order_by(payment_methods.c.created_at, payment_methods.c.payment_method_id)
    )
    return [_method(row) for row in conn.execute(query)]


def get(conn: Connection, customer_id: str, payment_method_id: str) -> PaymentMethod | None:
    row = conn.execute(
        select(payment_methods).where(
            _attached(customer_id), payment_methods.c.payment_method_id == payment_method_id
        )
    ).first()
    return None if row is None else _method(row)


def default_for(conn: Connection, customer_id: str) -> PaymentMethod | None:
    row = conn.execute(
        select(payment_methods).where(
            _attached(customer_id), payment_methods.c.is_default.is_(True)
        )
    ).first()
    return None if row is None else _method(row)


def add(conn: Connection, method: PaymentMethod, *, now: datetime) -> None:
    conn.execute(
        insert(payment_methods).values(
            payment_method_id=method.payment_method_id,
            customer_id=method.customer_id,
            type=method.type,
            brand=method.brand,
            last4=method.last4,
            exp_month=method.exp_month,
            exp_year=method.exp_year,
            is_default=method.is_default,
            reference=method.reference,
            created_at=now,
        )
    )


def detach(conn: Connection, payment_method_id: str, *, now: datetime) -> None:
    conn.execute(
        update(payment_methods)
        .where(payment_methods.c.payment_method_id == payment_method_id)
        .values(detached_at=now, is_default=False)
    )


def make_default(conn: Connection, customer_id: str, payment_method_id: str) -> None:
    """Exactly one default: this one."""
    conn.execute(
        update(payment_methods)
        .where(_attached(customer_id))
        .values(is_default=payment_methods.c.payment_method_id == payment_method_id)
    )
