"""The customer of every event is checked by the rollups' foreign key (migration 0016), not by
one on the raw events: an event of an unknown customer is refused with nothing stored on every
write path, a customer with usage cannot be deleted, and the schema has the check where the
write path relies on it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, inspect, select, text

from nself_billing import Billing, NotFound
from nself_billing.errors import BillingError, Conflict
from nself_billing.store import events
from nself_billing.store.db import Database
from nself_billing.store.hot_path import UsageReader
from nself_billing.store.tables import usage_daily, usage_records

from ..conftest import scratch_database
from ..support.migrations import migrate_to

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)


def _event(customer: str, key: str) -> events.NewUsage:
    return events.NewUsage(customer, "api", Decimal(1), 1_000_000, {}, NOW, key, "{}")


def _counts(billing: Billing) -> tuple[int, int, int]:
    with billing.context.db.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(usage_records)).scalar_one(),
            conn.execute(select(func.count()).select_from(usage_daily)).scalar_one(),
            int(
                conn.execute(select(func.coalesce(func.sum(usage_daily.c.events), 0))).scalar_one()
            ),
        )


def _batch(billing: Billing, count: int, customer: str) -> Callable[[], Any]:
    def write() -> int:
        with billing.context.db.write() as conn:
            batch = [_event("cus_nobody", f"b{n}") for n in range(count)]
            batch.append(_event(customer, "b-known"))  # a known customer in the same batch
            return events.insert_events(conn, batch, now=NOW)

    return write


def _consume(billing: Billing, customer: str) -> events.ConsumeRow:
    reader = UsageReader(billing.context.db.engine)
    arguments: dict[str, Any] = {
        "customer_id": customer,
        "service": "api",
        "quantity": Decimal(1),
        "micros": 1_000_000,
        "metadata": {},
        "recorded_at": NOW,
        "key": "c",
        "now": NOW,
        "first_day": date(2026, 11, 1),
        "end_day": date(2026, 12, 1),
        "limit_micros": None,
        "hard": False,
        "check_key": True,
    }
    try:
        if billing.context.db.is_postgresql:
            return events.pg_consume(reader, durable=True, **arguments)
        return events.sqlite_consume(reader, **arguments)
    finally:
        reader.close()


@pytest.mark.parametrize("path", ["one", "group", "small batch", "copy batch", "consume"])
def test_an_event_of_an_unknown_customer_is_refused_with_nothing_stored(
    billing: Billing, customer_id: str, path: str
) -> None:
    db = billing.context.db
    billing.usage.record("api", 1, idempotency_key="before")  # its rollup row exists already
    before = _counts(billing)
    write: Callable[[], Any] = {
        "one": lambda: events.record_one(db, _event("cus_nobody", "k"), now=NOW),
        # the known customer's event of the same group is not stored either: one transaction
        "group": lambda: events.write_group(
            db, [_event(customer_id, "g-known"), _event("cus_nobody", "g")], now=NOW
        ),
        "small batch": _batch(billing, 3, customer_id),
        # more than PG_STATEMENT_MAX: PostgreSQL's COPY and merge
        "copy batch": _batch(billing, events.PG_STATEMENT_MAX + 10, customer_id),
        # the store's consume (the service refuses an unknown customer before, by its plan)
        "consume": lambda: _consume(billing, "cus_nobody"),
    }[path]
    with pytest.raises((NotFound, BillingError), match="cus_nobody|foreign key|FOREIGN KEY"):
        write()
    assert _counts(billing) == before
    # the write path still works afterwards, and the known customer's rollup is exact
    assert billing.usage.record("api", 2, idempotency_key="after").recorded is True
    assert _counts(billing) == (before[0] + 1, before[1], before[2] + 1)


def test_a_customer_with_usage_cannot_be_deleted(billing: Billing) -> None:
    for customer in ("cus_used", "cus_unused"):
        billing.customers.create(
            email=f"{customer}@example.com", name=customer, customer_id=customer
        )
    billing.usage.record("api", 1, idempotency_key="k", customer_id="cus_used")
    delete = text("DELETE FROM billing_customers WHERE customer_id = :c")
    with (
        pytest.raises(Conflict, match="foreign key|FOREIGN KEY"),
        billing.context.db.write() as conn,
    ):
        conn.execute(delete, {"c": "cus_used"})
    with billing.context.db.write() as conn:  # the same delete of a customer without usage
        assert conn.execute(delete, {"c": "cus_unused"}).rowcount == 1
    assert _counts(billing) == (1, 1, 1)


def test_the_customer_is_referenced_by_the_rollups_not_by_each_event(billing: Billing) -> None:
    with billing.context.db.read() as conn:
        schema = inspect(conn)
        raw = schema.get_foreign_keys("billing_usage_records")
        daily = schema.get_foreign_keys("billing_usage_daily")
    assert raw == []
    assert [(fk["constrained_columns"], fk["referred_table"]) for fk in daily] == [
        (["customer_id"], "billing_customers")
    ]


def _migrate(url: str, revision: str, *, down: bool = False) -> None:
    db = Database(url)
    try:
        migrate_to(db, revision, down=down)
    finally:
        db.dispose()


def _foreign_keys(url: str) -> dict[str, list[str]]:
    db = Database(url)
    try:
        with db.read() as conn:
            schema = inspect(conn)
            return {
                table: [fk["referred_table"] for fk in schema.get_foreign_keys(table)]
                for table in ("billing_usage_records", "billing_usage_daily")
            }
    finally:
        db.dispose()


def _rows(url: str) -> list[tuple[Any, ...]]:
    db = Database(url)
    try:
        with db.read() as conn:
            return [
                tuple(row)
                for row in conn.exec_driver_sql(
                    "SELECT r.customer_id, r.idempotency_key, r.quantity_micros, d.events"
                    " FROM billing_usage_records r JOIN billing_usage_daily d"
                    " ON d.customer_id = r.customer_id AND d.service_name = r.service_name"
                    " ORDER BY r.id"
                )
            ]
    finally:
        db.dispose()


def test_migration_0016_moves_the_check_and_keeps_every_event(backend: str, tmp_path: Path) -> None:
    def run(url: str) -> None:
        _migrate(url, "0015")
        db = Database(url)
        try:
            with db.write() as conn:
                conn.execute(
                    text(
                        "INSERT INTO billing_customers (customer_id, email) VALUES ('cus_a', 'a@x')"
                    )
                )
            events.write_group(db, [_event("cus_a", "k1"), _event("cus_a", "k2")], now=NOW)
        finally:
            db.dispose()
        expected = [("cus_a", "k1", 1_000_000, 2), ("cus_a", "k2", 1_000_000, 2)]
        assert _foreign_keys(url) == {
            "billing_usage_records": ["billing_customers"],
            "billing_usage_daily": [],
        }
        _migrate(url, "0016")
        assert _foreign_keys(url) == {
            "billing_usage_records": [],
            "billing_usage_daily": ["billing_customers"],
        }
        assert _rows(url) == expected
        _migrate(url, "0015", down=True)
        assert _foreign_keys(url) == {
            "billing_usage_records": ["billing_customers"],
            "billing_usage_daily": [],
        }
        assert _rows(url) == expected

    if backend == "sqlite":
        run(f"sqlite:///{tmp_path / 'billing.db'}")
        return
    with scratch_database("nself_0016") as url:
        run(url)
