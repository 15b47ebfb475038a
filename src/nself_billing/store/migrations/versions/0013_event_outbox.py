"""events: the outbox of raw usage events bound for ClickHouse, and the shipper's state

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

``billing_event_outbox`` holds the ids of raw events (``billing_usage_records``) not yet in
ClickHouse. It is filled by a statement-level trigger on PostgreSQL that ``migrate`` (and the
first use with ``BILLING_CLICKHOUSE_URL`` set) installs, not by this migration: without
ClickHouse nothing is written to it. ``billing_event_shipper`` keeps one row per shipper
(``clickhouse``): what it shipped, its last error, the last reconcile and the raw-row horizon.
"""

import sqlalchemy as sa
from alembic import op

from nself_billing.store.types import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_event_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("usage_record_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("idx_event_outbox_usage_record", "billing_event_outbox", ["usage_record_id"])
    op.create_table(
        "billing_event_shipper",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("shipped_events", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("shipped_batches", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_shipped_at", UTCDateTime(), nullable=True),
        sa.Column("last_batch_token", sa.String(length=100), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", UTCDateTime(), nullable=True),
        sa.Column("last_reconcile_at", UTCDateTime(), nullable=True),
        sa.Column("last_reconcile_differences", sa.Integer(), nullable=True),
        sa.Column("pruned_events", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("raw_pruned_before", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS billing_event_capture ON billing_usage_records")
        op.execute("DROP FUNCTION IF EXISTS billing_event_capture()")
    op.drop_table("billing_event_shipper")
    op.drop_index("idx_event_outbox_usage_record", table_name="billing_event_outbox")
    op.drop_table("billing_event_outbox")
