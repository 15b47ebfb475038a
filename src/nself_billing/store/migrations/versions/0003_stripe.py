"""stripe: the usage outbox (usage events waiting to reach Stripe Billing Meters) and the
last webhook event applied per Stripe object (out-of-order deliveries never roll back), and
the journal of provider writes (idempotency keys reused only by a re-run after a crash)

Revision ID: 0003 (renumbered from 0005: see docs/ARCHITECTURE.md, "Schema")
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from nself_billing.store.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_usage_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("usage_record_id", sa.BigInteger(), nullable=True),
        sa.Column("identifier", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("service_name", sa.String(length=50), nullable=False),
        sa.Column("quantity_micros", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column(
            "status", sa.String(length=10), server_default=sa.text("'pending'"), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), server_default=sa.func.now(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("identifier", name="uq_billing_usage_outbox_identifier"),
    )
    with op.batch_alter_table("billing_usage_outbox", schema=None) as batch_op:
        batch_op.create_index("idx_usage_outbox_status", ["status", "id"], unique=False)
        batch_op.create_index("idx_usage_outbox_usage_record", ["usage_record_id"], unique=False)

    op.create_table(
        "billing_stripe_object_state",
        sa.Column("object_id", sa.String(length=255), nullable=False),
        sa.Column("object_type", sa.String(length=50), nullable=False),
        sa.Column("last_event_created", UTCDateTime(), nullable=False),
        sa.Column("last_event_id", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("object_id"),
    )

    op.create_table(
        "billing_provider_operations",
        sa.Column("op_key", sa.String(length=255), nullable=False),
        sa.Column("operation", sa.String(length=50), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("op_key"),
    )
    with op.batch_alter_table("billing_provider_operations", schema=None) as batch_op:
        batch_op.create_index(
            "idx_provider_operations_open",
            ["operation", "target", "completed_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("billing_provider_operations", schema=None) as batch_op:
        batch_op.drop_index("idx_provider_operations_open")
    op.drop_table("billing_provider_operations")
    op.drop_table("billing_stripe_object_state")
    with op.batch_alter_table("billing_usage_outbox", schema=None) as batch_op:
        batch_op.drop_index("idx_usage_outbox_usage_record")
        batch_op.drop_index("idx_usage_outbox_status")
    op.drop_table("billing_usage_outbox")
