"""``usage rebuild``: usage an operator inserts with SQL (only the spec's columns) reaches the
rollups, and so the report, quotas and invoices; ``--check`` finds the difference first."""

from datetime import date

from sqlalchemy import text

from nself_billing.store import rollups


def _insert_with_sql(billing, customer_id):
    with billing.context.db.write() as conn:
        conn.execute(
            text(
                "INSERT INTO billing_usage_records (customer_id, service_name, quantity, metadata,"
                " recorded_at) VALUES (:c, 'storage', 2.5, '{}', '2026-01-10 08:00:00'),"
                " (:c, 'storage', 0.000001, '{}', '2026-01-10 09:00:00'),"
                " (:c, 'api', 7, '{}', '2026-01-11 10:00:00')"
            ),
            {"c": customer_id},
        )


def _storage(billing, customer_id):
    with billing.context.db.read() as conn:
        return conn.execute(
            text(
                "SELECT quantity_micros, events FROM billing_usage_daily WHERE customer_id = :c"
                " AND service_name = 'storage' AND day = :d"
            ),
            {
                "c": customer_id,
                "d": date(2026, 1, 10) if billing.context.db.is_postgresql else "2026-01-10",
            },
        ).first()


def test_rows_inserted_with_sql_are_folded_into_the_rollups(cli, billing, customer_id):
    billing.usage.record("storage", "1", at="2026-01-10T12:00:00+00:00")
    _insert_with_sql(billing, customer_id)

    checked = cli("tenant", "billing", "usage", "rebuild", "--check")
    assert checked.exit_code == 1
    assert "2 rollup rows differ from the raw events and 3 events lack an exact quantity" in (
        checked.stderr
    )

    rebuilt = cli("tenant", "billing", "usage", "rebuild")
    assert rebuilt.exit_code == 0, rebuilt.stderr
    assert rebuilt.stdout.splitlines()[-1] == (
        "Rebuilt: 2 rollup rows corrected, 3 events given an exact quantity"
    )
    assert tuple(_storage(billing, customer_id)) == (3_500_001, 3)

    again = cli("tenant", "billing", "usage", "rebuild", "--check")
    assert (again.exit_code, again.stdout.strip()) == (0, "Rollups match the raw events")
    with billing.context.db.read() as conn:
        assert rollups.drift(conn) == []


def test_rollups_without_raw_events_are_removed(cli, billing, customer_id):
    billing.usage.record("api", 3, at="2026-01-12T00:00:00+00:00")
    with billing.context.db.write() as conn:
        conn.execute(text("DELETE FROM billing_usage_records"))
    assert cli("tenant", "billing", "usage", "rebuild").exit_code == 0
    with billing.context.db.read() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM billing_usage_daily")).scalar_one() == 0


def test_rows_of_an_unknown_customer_inserted_with_sql_are_refused_by_the_rebuild(
    cli, billing, customer_id
):
    # the raw table has no foreign key (migration 0016): the rollups' key checks the customer
    billing.usage.record("api", 3, at="2026-01-12T00:00:00+00:00")
    _insert_with_sql(billing, "cus_nobody")
    rebuilt = cli("tenant", "billing", "usage", "rebuild")
    assert rebuilt.exit_code != 0
    assert "foreign key" in rebuilt.stderr.lower()
    with billing.context.db.read() as conn:
        rows = conn.execute(
            text("SELECT customer_id, service_name, quantity_micros FROM billing_usage_daily")
        ).all()
    assert [tuple(row) for row in rows] == [(customer_id, "api", 3_000_000)]
