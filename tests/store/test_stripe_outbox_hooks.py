"""The raw-driver hooks the metering writers use produce the same rows as ``enqueue_records``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from nself_billing import Billing
from nself_billing.store import outbox

AT = datetime(2026, 1, 15, 12, 0, 0, 123456, tzinfo=UTC)


def test_the_sql_identifier_is_the_python_identifier(billing: Billing) -> None:
    if not billing.context.db.is_postgresql:
        return  # SQLite has no sha256: its writers compute the identifier in Python
    sql = outbox.PG_IDENTIFIER.format(customer=":c", key=":k")
    with billing.context.db.read() as conn:
        value = conn.execute(text(f"SELECT {sql}"), {"c": "cus_ü1", "k": "key-é"}).scalar()
    assert value == outbox.outbox_identifier("cus_ü1", "key-é")


def test_rows_queued_by_the_raw_hooks_are_claimed_like_the_others(billing: Billing) -> None:
    billing.customers.create(email="a@example.com", name="A", customer_id="cus_hook")
    db = billing.context.db
    with db.write() as conn:
        raw = conn.connection.driver_connection
        if db.is_postgresql:
            with raw.cursor() as cursor:
                cursor.execute(
                    "WITH e AS (INSERT INTO billing_usage_records (customer_id, service_name,"
                    " quantity, recorded_at, quantity_micros, idempotency_key)"
                    " VALUES ('cus_hook', 'api', 1, %s, 1000000, 'k1')"
                    " RETURNING id, customer_id, service_name, recorded_at, quantity_micros,"
                    " idempotency_key)" + outbox.PG_OUTBOX_CTE + " SELECT count(*) FROM e",
                    (AT,),
                )
        else:
            raw.execute(
                outbox.SQLITE_OUTBOX_INSERT,
                outbox.sqlite_outbox_params("cus_hook", "api", 1_000_000, AT, "k1"),
            )
        # the same event queued again through the SQLAlchemy path: still one row
        outbox.enqueue_records(conn, [outbox.OutboxUsage("cus_hook", "api", 1_000_000, AT, "k1")])
    with db.write() as conn:
        (row,) = outbox.claim(
            conn, now=AT + timedelta(hours=1), limit=10, lease=timedelta(minutes=5), token="t"
        )
    assert (row.identifier, row.customer_id, row.quantity_micros, row.recorded_at) == (
        outbox.outbox_identifier("cus_hook", "k1"),
        "cus_hook",
        1_000_000,
        AT,
    )
