"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25

The whole schema of tables.py as of the first release. Frozen from here: later changes
get migrations of their own.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from nself_billing.store.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_customers",
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("project_name", sa.String(length=255), nullable=True),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("created_at", UTCDateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("updated_at", UTCDateTime(), server_default=sa.func.now(), nullable=True),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    op.create_table(
        "billing_plans",
        sa.Column("plan_name", sa.String(length=50), nullable=False),
        sa.Column("price_monthly", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("price_yearly", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("stripe_price_id", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("tier", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("currency", sa.String(length=3), server_default=sa.text("'usd'"), nullable=False),
        sa.Column("stripe_price_id_yearly", sa.String(length=255), nullable=True),
        sa.Column("stripe_product_id", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("plan_name"),
    )
    op.create_table(
        "billing_quota_alerts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("service_name", sa.String(length=50), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("period_start", UTCDateTime(), nullable=False),
        sa.Column("usage", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("limit_value", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("created_at", UTCDateTime(), server_default=sa.func.now(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "customer_id",
            "service_name",
            "threshold",
            "period_start",
            name="uq_billing_quota_alerts_once",
        ),
    )
    op.create_table(
        "billing_usage_daily",
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("service_name", sa.String(length=50), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("quantity_micros", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("events", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "service_name", "day"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "billing_webhook_events",
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("api_version", sa.String(length=32), nullable=True),
        sa.Column("created", UTCDateTime(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", UTCDateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("processed_at", UTCDateTime(), nullable=True),
        sa.Column(
            "status", sa.String(length=20), server_default=sa.text("'received'"), nullable=False
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("event_id"),
    )
    with op.batch_alter_table("billing_webhook_events", schema=None) as batch_op:
        batch_op.create_index("idx_webhook_events_received", ["received_at"], unique=False)

    op.create_table(
        "billing_api_keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("is_admin", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("key_hash", sa.String(length=128), nullable=False),
        sa.Column("created_at", UTCDateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["billing_customers.customer_id"],
        ),
        sa.PrimaryKeyConstraint("key_id"),
        sa.UniqueConstraint("key_hash", name="uq_billing_api_keys_hash"),
    )
    op.create_table(
        "billing_invoices",
        sa.Column("invoice_id", sa.String(length=255), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("total_amount", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=True),
        sa.Column("period_start", UTCDateTime(), nullable=True),
        sa.Column("period_end", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("paid_at", UTCDateTime(), nullable=True),
        sa.Column("subscription_id", sa.String(length=255), nullable=True),
        sa.Column(
            "kind", sa.String(length=20), server_default=sa.text("'subscription'"), nullable=False
        ),
        sa.Column("currency", sa.String(length=3), server_default=sa.text("'usd'"), nullable=False),
        sa.Column("subtotal_amount", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("number", sa.String(length=64), nullable=True),
        sa.Column("source_key", sa.String(length=255), nullable=True),
        sa.Column("finalized_at", UTCDateTime(), nullable=True),
        sa.Column("hosted_invoice_url", sa.Text(), nullable=True),
        sa.Column("invoice_pdf_url", sa.Text(), nullable=True),
        sa.Column("provider_updated_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["billing_customers.customer_id"],
        ),
        sa.PrimaryKeyConstraint("invoice_id"),
        sa.UniqueConstraint("source_key", name="uq_billing_invoices_source_key"),
    )
    with op.batch_alter_table("billing_invoices", schema=None) as batch_op:
        batch_op.create_index(
            "idx_invoices_customer_created", ["customer_id", "created_at"], unique=False
        )

    op.create_table(
        "billing_payment_methods",
        sa.Column("payment_method_id", sa.String(length=255), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=32), server_default=sa.text("'card'"), nullable=False),
        sa.Column("brand", sa.String(length=32), nullable=True),
        sa.Column("last4", sa.String(length=4), nullable=True),
        sa.Column("exp_month", sa.Integer(), nullable=True),
        sa.Column("exp_year", sa.Integer(), nullable=True),
        sa.Column("is_default", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", UTCDateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("detached_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["billing_customers.customer_id"],
        ),
        sa.PrimaryKeyConstraint("payment_method_id"),
    )
    with op.batch_alter_table("billing_payment_methods", schema=None) as batch_op:
        batch_op.create_index("idx_payment_methods_customer", ["customer_id"], unique=False)

    op.create_table(
        "billing_quota_overrides",
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("service_name", sa.String(length=50), nullable=False),
        sa.Column("limit_value", sa.Numeric(precision=20, scale=6), nullable=True),
        sa.Column("enforcement_mode", sa.String(length=10), nullable=True),
        sa.Column("overage_price", sa.Numeric(precision=10, scale=6), nullable=True),
        sa.Column("created_at", UTCDateTime(), server_default=sa.func.now(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["billing_customers.customer_id"],
        ),
        sa.PrimaryKeyConstraint("customer_id", "service_name"),
    )
    op.create_table(
        "billing_quotas",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("plan_name", sa.String(length=50), nullable=True),
        sa.Column("service_name", sa.String(length=50), nullable=True),
        sa.Column("limit_value", sa.Numeric(precision=20, scale=6), nullable=True),
        sa.Column("limit_type", sa.String(length=50), nullable=True),
        sa.Column("enforcement_mode", sa.String(length=10), nullable=True),
        sa.Column("overage_price", sa.Numeric(precision=10, scale=6), nullable=True),
        sa.ForeignKeyConstraint(["plan_name"], ["billing_plans.plan_name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_name", "service_name", name="uq_billing_quotas_plan_service"),
    )
    op.create_table(
        "billing_subscriptions",
        sa.Column("subscription_id", sa.String(length=255), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("plan_name", sa.String(length=50), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=True),
        sa.Column("current_period_start", UTCDateTime(), nullable=True),
        sa.Column("current_period_end", UTCDateTime(), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("created_at", UTCDateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column(
            "billing_interval",
            sa.String(length=10),
            server_default=sa.text("'month'"),
            nullable=False,
        ),
        sa.Column("anchor_at", UTCDateTime(), nullable=True),
        sa.Column("trial_end", UTCDateTime(), nullable=True),
        sa.Column("scheduled_plan_name", sa.String(length=50), nullable=True),
        sa.Column("canceled_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("provider_schedule_id", sa.String(length=255), nullable=True),
        sa.Column("provider_updated_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["billing_customers.customer_id"],
        ),
        sa.PrimaryKeyConstraint("subscription_id"),
    )
    with op.batch_alter_table("billing_subscriptions", schema=None) as batch_op:
        batch_op.create_index("idx_subscriptions_customer", ["customer_id"], unique=False)
        batch_op.create_index(
            "idx_subscriptions_period_end", ["status", "current_period_end"], unique=False
        )

    op.create_table(
        "billing_usage_records",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("service_name", sa.String(length=50), nullable=True),
        sa.Column("quantity", sa.Numeric(precision=20, scale=6), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("recorded_at", UTCDateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("quantity_micros", sa.BigInteger(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("ingested_at", UTCDateTime(), server_default=sa.func.now(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["billing_customers.customer_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key", name="uq_billing_usage_records_idempotency_key"),
    )
    with op.batch_alter_table("billing_usage_records", schema=None) as batch_op:
        batch_op.create_index(
            "idx_usage_customer_service", ["customer_id", "service_name"], unique=False
        )
        batch_op.create_index("idx_usage_recorded_at", ["recorded_at"], unique=False)

    op.create_table(
        "billing_invoice_lines",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("invoice_id", sa.String(length=255), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("service_name", sa.String(length=50), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "quantity",
            sa.Numeric(precision=20, scale=6),
            server_default=sa.text("1"),
            nullable=False,
        ),
        sa.Column(
            "unit_price",
            sa.Numeric(precision=16, scale=6),
            server_default=sa.text("0"),
            nullable=False,
        ),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("period_start", UTCDateTime(), nullable=True),
        sa.Column("period_end", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["billing_invoices.invoice_id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("invoice_id", "line_no", name="uq_billing_invoice_lines_no"),
    )
    op.create_table(
        "billing_payments",
        sa.Column("payment_id", sa.String(length=255), nullable=False),
        sa.Column("invoice_id", sa.String(length=255), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("amount", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), server_default=sa.text("'usd'"), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("payment_method_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", UTCDateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["billing_invoices.invoice_id"],
        ),
        sa.PrimaryKeyConstraint("payment_id"),
        sa.UniqueConstraint("idempotency_key", name="uq_billing_payments_idempotency_key"),
    )


def downgrade() -> None:
    op.drop_table("billing_payments")
    op.drop_table("billing_invoice_lines")
    with op.batch_alter_table("billing_usage_records", schema=None) as batch_op:
        batch_op.drop_index("idx_usage_recorded_at")
        batch_op.drop_index("idx_usage_customer_service")

    op.drop_table("billing_usage_records")
    with op.batch_alter_table("billing_subscriptions", schema=None) as batch_op:
        batch_op.drop_index("idx_subscriptions_period_end")
        batch_op.drop_index("idx_subscriptions_customer")

    op.drop_table("billing_subscriptions")
    op.drop_table("billing_quotas")
    op.drop_table("billing_quota_overrides")
    with op.batch_alter_table("billing_payment_methods", schema=None) as batch_op:
        batch_op.drop_index("idx_payment_methods_customer")

    op.drop_table("billing_payment_methods")
    with op.batch_alter_table("billing_invoices", schema=None) as batch_op:
        batch_op.drop_index("idx_invoices_customer_created")

    op.drop_table("billing_invoices")
    op.drop_table("billing_api_keys")
    with op.batch_alter_table("billing_webhook_events", schema=None) as batch_op:
        batch_op.drop_index("idx_webhook_events_received")

    op.drop_table("billing_webhook_events")
    op.drop_table("billing_usage_daily")
    op.drop_table("billing_quota_alerts")
    op.drop_table("billing_plans")
    op.drop_table("billing_customers")
