"""subscriptions: the plan a period began on, rated usage per period, payment references

Revision ID: 0002 (renumbered from 0004: see docs/ARCHITECTURE.md, "Schema")
Revises: 0001
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from nself_billing.store.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("billing_subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("period_plan_name", sa.String(length=50), nullable=True))
    with op.batch_alter_table("billing_payment_methods", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reference", sa.String(length=255), nullable=True))
    op.create_table(
        "billing_rated_usage",
        sa.Column("subscription_id", sa.String(length=255), nullable=False),
        sa.Column("period_start", UTCDateTime(), nullable=False),
        sa.Column("service_name", sa.String(length=50), nullable=False),
        sa.Column("period_end", UTCDateTime(), nullable=False),
        sa.Column("plan_name", sa.String(length=50), nullable=False),
        sa.Column("quantity_micros", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "amount", sa.Numeric(precision=12, scale=2), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("invoice_id", sa.String(length=255), nullable=True),
        sa.Column("updated_at", UTCDateTime(), server_default=sa.func.now(), nullable=True),
        sa.PrimaryKeyConstraint("subscription_id", "period_start", "service_name"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("billing_rated_usage", schema=None) as batch_op:
        batch_op.create_index("idx_rated_usage_period_end", ["period_end"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("billing_rated_usage", schema=None) as batch_op:
        batch_op.drop_index("idx_rated_usage_period_end")
    op.drop_table("billing_rated_usage")
    with op.batch_alter_table("billing_payment_methods", schema=None) as batch_op:
        batch_op.drop_column("reference")
    with op.batch_alter_table("billing_subscriptions", schema=None) as batch_op:
        batch_op.drop_column("period_plan_name")
