"""An older database is upgraded in place by the first use of a newer release, keeping its
data: the schema of the first release (revision 0001) with rows in it, then ``Billing``."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from nself_billing import Billing
from nself_billing.store.catalog import seed_default_plans
from nself_billing.store.db import Database
from nself_billing.store.migrate import SCHEMA_REVISION, current_revision

from ..conftest import CONFIG_VARS, scratch_database
from ..support.migrations import migrate_to


@pytest.fixture
def old_database(backend: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A database migrated only to revision 0001, and the environment that points at it."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    env["NSELF_ROOT"] = str(tmp_path)
    if backend == "sqlite":
        data = tmp_path / ".nself" / "billing"
        data.mkdir(parents=True)
        url = f"sqlite:///{data / 'billing.db'}"
        yield url, env
        return
    with scratch_database("nself_old") as url:
        env["BILLING_DATABASE_URL"] = url
        yield url, env


def test_first_release_database_is_upgraded_with_its_data(old_database):
    url, env = old_database
    db = Database(url)
    try:
        migrate_to(db, "0001")
        with db.write() as conn:
            seed_default_plans(conn)
            conn.execute(
                text(
                    "INSERT INTO billing_customers (customer_id, email, name)"
                    " VALUES ('cus_old', 'old@example.com', 'Old Tenant')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO billing_subscriptions (subscription_id, customer_id, plan_name,"
                    " status, current_period_start, current_period_end)"
                    " VALUES ('sub_old', 'cus_old',"
                    " 'starter', 'active', '2026-01-01 00:00:00', '2026-02-01 00:00:00')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO billing_invoices (invoice_id, customer_id, total_amount, status)"
                    " VALUES ('in_old', 'cus_old', 29.00, 'paid')"
                )
            )
        with db.read() as conn:
            assert current_revision(conn) == "0001"
    finally:
        db.dispose()

    with Billing.from_env(env) as billing:
        with billing.context.db.read() as conn:
            assert current_revision(conn) == SCHEMA_REVISION
        assert billing.customers.get("cus_old").email == "old@example.com"
        subscription = billing.subscriptions.current("cus_old")
        assert (subscription.subscription_id, subscription.plan_name) == ("sub_old", "starter")
        assert billing.queries.render(
            "SELECT total_amount FROM billing_invoices WHERE invoice_id = 'in_old'"
        ).startswith("29")
        assert billing.plans.get("pro").price_monthly == Decimal("99.00")
        # seeded into DECIMAL(10,6), where PostgreSQL rounded it to 0.000002 (migration 0009)
        assert billing.plans.get("pro").quota_for("database").overage_price == Decimal("0.0000015")
        # the upgraded database takes the newer features' writes
        billing.usage.record("api", 5, customer_id="cus_old")
        [line] = billing.quotas.statuses(services=["api"], customer_id="cus_old")
        assert line.usage == 5


def test_invoice_numbers_copied_from_ids_before_0011_are_cleared(old_database):
    """Before revision 0011 a local invoice's ``number`` was a copy of its id; an invoice with
    Stripe's own number keeps it."""
    url, env = old_database
    db = Database(url)
    try:
        migrate_to(db, "0007")
        with db.write() as conn:
            seed_default_plans(conn)
            conn.execute(text("INSERT INTO billing_customers (customer_id) VALUES ('cus_old')"))
            conn.execute(
                text(
                    "INSERT INTO billing_invoices (invoice_id, customer_id, total_amount, status,"
                    " number) VALUES ('in_local', 'cus_old', 29.00, 'paid', 'in_local'),"
                    " ('in_stripe', 'cus_old', 29.00, 'paid', 'ABCD1234-0001')"
                )
            )
    finally:
        db.dispose()
    with Billing.from_env(env) as billing:
        assert billing.invoices.get("cus_old", "in_local").number is None
        assert billing.invoices.get("cus_old", "in_stripe").number == "ABCD1234-0001"
