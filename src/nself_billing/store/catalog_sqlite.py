"""The plan catalog read through the standard library's sqlite3 driver alone.

The catalog commands (``plan list|show|compare``, ``subscription plans``) are the ones people
run to look around, and importing SQLAlchemy costs more than all the rest of such a command.
On the embedded default, a database already at ``SCHEMA_REVISION`` is read here, read-only,
with the same queries as catalog.py; anything else (no database yet, another revision, a row
these conversions do not take) answers None and the caller takes the normal path, which
creates, migrates and reports errors as usual.

Values are converted as SQLAlchemy's types convert them on SQLite: a ``Numeric(p, s)`` column
gives the stored number formatted at scale ``s`` (tests/store/test_catalog_sqlite.py checks
that both paths give equal plans).
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ..domain.plans import Plan
from .catalog_rows import plan_from_row, quotas_by_plan

#: the scales of billing_plans.price_* (Numeric(10, 2)), billing_quotas.limit_value
#: (Numeric(20, 6)) and overage_price (Numeric(18, 9)) in tables.py
_PRICE_SCALE = 2
_QUANTITY_SCALE = 6
_UNIT_PRICE_SCALE = 9

_PLANS_SQL = (
    "SELECT plan_name, price_monthly, price_yearly, description, tier, stripe_price_id"
    " FROM billing_plans ORDER BY tier, price_monthly, plan_name"
)
_QUOTAS_SQL = (
    "SELECT plan_name, service_name, limit_value, enforcement_mode, overage_price"
    " FROM billing_quotas"
)


def stored_number(value: Any, scale: int) -> Decimal | None:
    """A NUMERIC SQLite returned (int or float) at the column's scale, as SQLAlchemy reads it."""
    if value is None:
        return None
    if isinstance(value, str | bytes):
        raise TypeError("a number stored as text")  # SQLAlchemy's conversion refuses it too
    return Decimal(f"{value:.{scale}f}")


def _read_rows(path: Path, revision: str) -> tuple[list[Any], list[Any]] | None:
    if not path.is_file():
        return None
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        if conn.execute("SELECT version_num FROM alembic_version").fetchall() != [(revision,)]:
            return None
        return _rows(conn)
    finally:
        conn.close()


def _rows(conn: sqlite3.Connection) -> tuple[list[Any], list[Any]]:
    return list(conn.execute(_PLANS_SQL)), list(conn.execute(_QUOTAS_SQL))


def plans_from(conn: sqlite3.Connection) -> list[Plan]:
    """Every plan, cheapest tier first, read on an open connection (errors propagate)."""
    return _plans(*_rows(conn))


def read_plans(path: Path, revision: str) -> list[Plan] | None:
    """Every plan, cheapest tier first, or None when the database at ``path`` is not ready to be
    read this way."""
    try:
        rows = _read_rows(path, revision)
        if rows is None:
            return None
        return _plans(*rows)
    except (sqlite3.Error, TypeError, ValueError, InvalidOperation):
        return None


def _plans(plan_rows: list[Any], quota_rows: list[Any]) -> list[Plan]:
    by_plan = quotas_by_plan(
        (
            plan,
            service,
            stored_number(limit, _QUANTITY_SCALE),
            mode,
            stored_number(overage, _UNIT_PRICE_SCALE),
        )
        for plan, service, limit, mode, overage in (tuple(row) for row in quota_rows)
    )
    return [
        plan_from_row(
            (
                name,
                stored_number(monthly, _PRICE_SCALE),
                stored_number(yearly, _PRICE_SCALE),
                description,
                tier,
                price_id,
            ),
            by_plan.get(name, []),
        )
        for name, monthly, yearly, description, tier, price_id in (tuple(r) for r in plan_rows)
    ]
