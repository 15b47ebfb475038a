"""Queries for billing_customers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from ..domain.customers import Customer
from .tables import customers

if TYPE_CHECKING:
    from .db import Database


def _customer(row: Any) -> Customer:
    return Customer(
        row.customer_id, row.email, row.name, row.phone, row.project_name, row.created_at
    )


def get(conn: Connection, customer_id: str) -> Customer | None:
    row = conn.execute(select(customers).where(customers.c.customer_id == customer_id)).first()
    return None if row is None else _customer(row)


def exists(conn: Connection, customer_id: str) -> bool:
    query = select(customers.c.customer_id).where(customers.c.customer_id == customer_id)
    return conn.execute(query).first() is not None


def first_ids(conn: Connection, limit: int) -> list[str]:
    query = (
        select(customers.c.customer_id)
        .order_by(customers.c.created_at, customers.c.customer_id)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


_FIRST_IDS = {
    "sqlite": "SELECT customer_id FROM billing_customers ORDER BY created_at, customer_id LIMIT ?",
    "postgresql": "SELECT customer_id FROM billing_customers ORDER BY created_at, customer_id"
    " LIMIT %s",
}


def first_ids_fast(db: Database, limit: int) -> list[str]:
    """``first_ids`` as one statement on the calling thread's driver cursor: the current
    customer is resolved this way on every call that names none (``billing_record_usage`` in a
    request handler), where a pooled SQLAlchemy read costs more than recording the event."""
    try:
        with db.hot_cursor() as cursor:
            cursor.execute(_FIRST_IDS[db.dialect], (limit,))
            return [row[0] for row in cursor.fetchall()]
    except db.driver_error as error:
        db.raise_driver_error(error)


def list_all(conn: Connection) -> list[Customer]:
    query = select(customers).order_by(customers.c.created_at, customers.c.customer_id)
    return [_customer(row) for row in conn.execute(query)]


def add(conn: Connection, customer: Customer, *, now: datetime) -> None:
    conn.execute(
        insert(customers).values(
            customer_id=customer.customer_id,
            email=customer.email,
            name=customer.name,
            phone=customer.phone,
            project_name=customer.project_name,
            created_at=now,
            updated_at=now,
        )
    )


def set_fields(
    conn: Connection, customer_id: str, fields: Mapping[str, str | None], *, now: datetime
) -> bool:
    result = conn.execute(
        update(customers)
        .where(customers.c.customer_id == customer_id)
        .values(**fields, updated_at=now)
    )
    return result.rowcount > 0


def email_of(conn: Connection, customer_id: str) -> str | None:
    email = conn.execute(
        select(customers.c.email).where(customers.c.customer_id == customer_id)
    ).scalar()
    return str(email) if email else None
