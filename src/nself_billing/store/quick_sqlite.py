"""The embedded database read through the standard library's sqlite3 driver alone.

The everyday read commands (``usage``, ``quota``, ``customer show``, ``subscription show``,
``invoice list``) are run by hand and from scripts, and importing SQLAlchemy costs more than
the rest of such a command. On a database already at ``SCHEMA_REVISION`` they read here,
read-only, with the queries of the store modules they stand in for, converting values as
SQLAlchemy's types do on SQLite (``Numeric(p, s)``: the stored number at scale ``s``;
``UTCDateTime``: naive UTC text; ``Date``: ``YYYY-MM-DD``). tests/store/test_quick_sqlite.py
checks that both paths give equal answers.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from ..domain.customers import Customer
from ..domain.invoicing import Invoice, InvoiceKind, InvoiceStatus
from ..domain.money import from_micros, unit_price
from ..domain.periods import Period
from ..domain.plans import Plan
from ..domain.subscriptions import LIVE_STATUSES, Subscription, SubscriptionStatus
from .catalog_sqlite import plans_from, stored_number

#: scales of the Numeric columns read here (tables.py)
_QUANTITY_SCALE = 6
_UNIT_PRICE_SCALE = 9
_MONEY_SCALE = 2


def read_only_uri(path: Path) -> str:
    """A read-only open of an existing database file. A WAL database also needs its ``-shm``
    file: when it is absent and cannot be created (the folder is not writable either), the file
    is opened as immutable, which is what it is to this process."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    shm = path.with_name(path.name + "-shm")
    if not shm.exists() and not os.access(path.parent, os.W_OK):
        uri += "&immutable=1"
    return uri


def _moment(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise TypeError("not a timestamp")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _required_moment(value: Any) -> datetime:
    moment = _moment(value)
    if moment is None:
        raise TypeError("a missing timestamp")
    return moment


@dataclass(frozen=True)
class OverrideRow:
    """A per-customer quota override (``store.quotas.Override``'s fields that matter here)."""

    limit: Decimal | None
    mode: str | None
    overage_price: Decimal | None


class DayRow(NamedTuple):
    day: date
    service: str
    quantity: Decimal
    events: int


class QuickReader:
    """A read-only sqlite3 connection on a ready embedded database."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._plans: list[Plan] | None = None

    @classmethod
    def open(cls, path: Path, revision: str) -> QuickReader | None:
        """The reader, or None when the database is missing or at another revision."""
        if not path.is_file():
            return None
        conn = sqlite3.connect(read_only_uri(path), uri=True)
        try:
            rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        except sqlite3.Error:
            conn.close()
            return None
        if rows != [(revision,)]:
            conn.close()
            return None
        conn.row_factory = sqlite3.Row
        return cls(conn)

    def close(self) -> None:
        self._conn.close()

    # -- customers ------------------------------------------------------------------------

    def first_customer_ids(self, limit: int) -> list[str]:
        rows = self._conn.execute(
            "SELECT customer_id FROM billing_customers ORDER BY created_at, customer_id LIMIT ?",
            (limit,),
        )
        return [row[0] for row in rows]

    def customer(self, customer_id: str) -> Customer | None:
        row = self._conn.execute(
            "SELECT customer_id, email, name, phone, project_name, created_at"
            " FROM billing_customers WHERE customer_id = ?",
            (customer_id,),
        ).fetchone()
        if row is None:
            return None
        return Customer(
            row["customer_id"],
            row["email"],
            row["name"],
            row["phone"],
            row["project_name"],
            _moment(row["created_at"]),
        )

    def customer_exists(self, customer_id: str) -> bool:
        return self.customer(customer_id) is not None

    # -- subscriptions and invoices ------------------------------------------------------

    def current_subscription(self, customer_id: str) -> Subscription | None:
        rows = self._conn.execute(
            "SELECT * FROM billing_subscriptions WHERE customer_id = ?"
            " ORDER BY created_at DESC, subscription_id DESC",
            (customer_id,),
        )
        row = next((r for r in rows if r["status"] in LIVE_STATUSES), None)
        if row is None:
            return None
        start = _required_moment(row["current_period_start"])
        return Subscription(
            subscription_id=row["subscription_id"],
            customer_id=row["customer_id"],
            plan_name=row["plan_name"],
            status=SubscriptionStatus(row["status"]),  # ValueError: the normal path
            period=Period(start, _required_moment(row["current_period_end"])),
            cancel_at_period_end=bool(row["cancel_at_period_end"]),
            interval=row["billing_interval"] or "month",
            anchor_at=_moment(row["anchor_at"]) or start,
            trial_end=_moment(row["trial_end"]),
            scheduled_plan_name=row["scheduled_plan_name"],
            canceled_at=_moment(row["canceled_at"]),
            period_plan_name=row["period_plan_name"] or row["plan_name"],
        )

    def invoices(self, customer_id: str, limit: int | None = None) -> list[Invoice]:
        sql = (
            "SELECT * FROM billing_invoices WHERE customer_id = ?"
            " ORDER BY created_at DESC, invoice_id DESC"
        )
        rows = self._conn.execute(
            sql + (" LIMIT ?" if limit is not None else ""),
            (customer_id, limit) if limit is not None else (customer_id,),
        )
        return [
            Invoice(
                invoice_id=row["invoice_id"],
                customer_id=row["customer_id"],
                subscription_id=row["subscription_id"],
                kind=InvoiceKind(row["kind"]),
                status=InvoiceStatus(row["status"] or "open"),
                currency=row["currency"] or "usd",
                total=stored_number(row["total_amount"], _MONEY_SCALE) or Decimal("0"),
                period_start=_moment(row["period_start"]),
                period_end=_moment(row["period_end"]),
                created_at=_moment(row["created_at"]),
                paid_at=_moment(row["paid_at"]),
                number=row["number"],
                due_at=_moment(row["due_at"]),
            )
            for row in rows
        ]

    # -- catalog and quotas ---------------------------------------------------------------

    def plan(self, plan_name: str) -> Plan | None:
        if self._plans is None:
            self._plans = plans_from(self._conn)
        return next((plan for plan in self._plans if plan.name == plan_name), None)

    def overrides(self, customer_id: str) -> dict[str, OverrideRow]:
        rows = self._conn.execute(
            "SELECT service_name, limit_value, enforcement_mode, overage_price"
            " FROM billing_quota_overrides WHERE customer_id = ?",
            (customer_id,),
        )
        result = {}
        for row in rows:
            price = stored_number(row["overage_price"], _UNIT_PRICE_SCALE)
            result[row["service_name"]] = OverrideRow(
                stored_number(row["limit_value"], _QUANTITY_SCALE),
                row["enforcement_mode"],
                None if price is None else unit_price(price),
            )
        return result

    # -- usage (the per-day rollups) -------------------------------------------------------

    def period_totals(
        self, customer_id: str, first_day: date, end_day: date, services: Iterable[str]
    ) -> dict[str, tuple[Decimal, int]]:
        names = set(services)
        rows = self._conn.execute(
            "SELECT service_name, SUM(quantity_micros), SUM(events) FROM billing_usage_daily"
            " WHERE customer_id = ? AND day >= ? AND day < ? GROUP BY service_name",
            (customer_id, first_day.isoformat(), end_day.isoformat()),
        )
        return {
            service: (from_micros(int(micros or 0)), int(events or 0))
            for service, micros, events in rows
            if service in names
        }

    def daily_totals(
        self, customer_id: str, first_day: date, end_day: date, services: Iterable[str]
    ) -> list[DayRow]:
        names = set(services)
        rows = self._conn.execute(
            "SELECT day, service_name, quantity_micros, events FROM billing_usage_daily"
            " WHERE customer_id = ? AND day >= ? AND day < ? ORDER BY day, service_name",
            (customer_id, first_day.isoformat(), end_day.isoformat()),
        )
        return [
            DayRow(date.fromisoformat(day), service, from_micros(int(micros)), int(events))
            for day, service, micros, events in rows
            if service in names
        ]

    def service_total_micros(
        self, customer_id: str, service: str, first_day: date, end_day: date
    ) -> int:
        row = self._conn.execute(
            "SELECT COALESCE(SUM(quantity_micros), 0) FROM billing_usage_daily"
            " WHERE customer_id = ? AND service_name = ? AND day >= ? AND day < ?",
            (customer_id, service, first_day.isoformat(), end_day.isoformat()),
        ).fetchone()
        return int(row[0])
