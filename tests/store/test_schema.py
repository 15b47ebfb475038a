"""The schema: migrations, the spec's columns, and concurrent first use."""

import multiprocessing
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import text

from nself_billing import Billing
from nself_billing.store.migrate import SCHEMA_REVISION, alembic_head, current_revision


def test_the_code_knows_the_newest_migration():
    assert SCHEMA_REVISION == alembic_head()


def test_rows_with_only_the_spec_columns_work(billing):
    with billing.context.db.write() as conn:
        conn.execute(
            text(
                "INSERT INTO billing_customers (customer_id, email, name) "
                "VALUES ('cus_sql', 'sql@example.com', 'Inserted With SQL')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO billing_subscriptions (subscription_id, customer_id, plan_name,"
                " status,"
                " current_period_start, current_period_end) VALUES ('sub_sql', 'cus_sql', 'pro',"
                " 'active', '2026-01-01 00:00:00', '2026-02-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO billing_plans (plan_name, price_monthly, price_yearly)"
                " VALUES ('gold', 199.00, 1990.00)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO billing_invoices (invoice_id, customer_id, total_amount,"
                " status) VALUES ('in_sql', 'cus_sql', 99.00, 'paid')"
            )
        )
    customer = billing.customers.get("cus_sql")
    assert customer.created_at is not None and customer.created_at.tzinfo is UTC
    subscription = billing.subscriptions.current("cus_sql")
    assert subscription.period.start == datetime(2026, 1, 1, tzinfo=UTC)
    assert subscription.cancel_at_period_end is False
    assert billing.plans.get("gold").price_monthly == Decimal("199.00")


def _first_use(env):
    Billing.from_env(env).close()


def test_concurrent_first_use_migrates_once(env):
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        pool.map(_first_use, [env] * 4)
    with Billing.from_env(env) as billing:
        with billing.context.db.read() as conn:
            assert current_revision(conn) == SCHEMA_REVISION
        assert [p.name for p in billing.plans.list()] == ["free", "starter", "pro", "enterprise"]
        assert billing.queries.render("SELECT COUNT(*) FROM billing_quotas") == "18"
