"""events: one outbox row per accepting statement (the ids of its events), not one per event

Revision ID: 0015
Revises: 0014 (independent of it: 0014 touches the event write path, this one only the
ClickHouse outbox)
Create Date: 2026-12-02

The capture trigger wrote one ``billing_event_outbox`` row per event: two index entries and a
heap tuple for every event accepted, and as many rows for the shipper to lock, delete and join.
It now writes one row per statement (per 10,000 events of a larger one) holding the events'
ids as an array, so a COPY batch of 10,000 events costs one row, and the shipper claims and
deletes a batch by a handful of rows. Rows waiting at the upgrade keep their order (one id
each). The capture function, when installed, is replaced to write the new column.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_TRIGGER_EXISTS = (
    "SELECT 1 FROM pg_trigger WHERE tgname = 'billing_event_capture'"
    " AND tgrelid = 'billing_usage_records'::regclass"
)
# frozen copies of store/event_outbox.py's capture function at this revision
_CAPTURE_PER_STATEMENT = (
    "CREATE OR REPLACE FUNCTION billing_event_capture() RETURNS trigger"
    " LANGUAGE plpgsql AS $$ BEGIN"
    " INSERT INTO billing_event_outbox (record_ids) SELECT array_agg(id) FROM"
    " (SELECT id, (row_number() OVER () - 1) / 10000 AS chunk FROM billing_new_events) n"
    " GROUP BY chunk ORDER BY chunk;"
    " RETURN NULL; END $$"
)
_CAPTURE_PER_EVENT = (
    "CREATE OR REPLACE FUNCTION billing_event_capture() RETURNS trigger"
    " LANGUAGE plpgsql AS $$ BEGIN"
    " INSERT INTO billing_event_outbox (usage_record_id) SELECT id FROM billing_new_events;"
    " RETURN NULL; END $$"
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        # never filled on SQLite (ClickHouse needs PostgreSQL): the new shape, for one schema
        with op.batch_alter_table("billing_event_outbox") as batch:
            batch.drop_index("idx_event_outbox_usage_record")
            batch.drop_column("usage_record_id")
            batch.add_column(sa.Column("record_ids", sa.JSON(), nullable=True))
        return
    capturing = bind.exec_driver_sql(_TRIGGER_EXISTS).first() is not None
    op.execute("LOCK TABLE billing_event_outbox IN ACCESS EXCLUSIVE MODE")
    op.add_column(
        "billing_event_outbox",
        sa.Column("record_ids", postgresql.ARRAY(sa.BigInteger()), nullable=True),
    )
    op.execute("UPDATE billing_event_outbox SET record_ids = ARRAY[usage_record_id]")
    op.alter_column("billing_event_outbox", "record_ids", nullable=False)
    op.drop_index("idx_event_outbox_usage_record", table_name="billing_event_outbox")
    op.drop_column("billing_event_outbox", "usage_record_id")
    if capturing:
        op.execute(_CAPTURE_PER_STATEMENT)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        with op.batch_alter_table("billing_event_outbox") as batch:
            batch.drop_column("record_ids")
            batch.add_column(sa.Column("usage_record_id", sa.BigInteger(), nullable=True))
            batch.create_index("idx_event_outbox_usage_record", ["usage_record_id"])
        return
    capturing = bind.exec_driver_sql(_TRIGGER_EXISTS).first() is not None
    op.execute("LOCK TABLE billing_event_outbox IN ACCESS EXCLUSIVE MODE")
    op.add_column("billing_event_outbox", sa.Column("usage_record_id", sa.BigInteger()))
    op.alter_column("billing_event_outbox", "record_ids", nullable=True)
    op.execute(
        "INSERT INTO billing_event_outbox (usage_record_id, created_at)"
        " SELECT u.id, o.created_at FROM billing_event_outbox o, unnest(o.record_ids) AS u(id)"
        " ORDER BY o.id, u.id"
    )
    op.execute("DELETE FROM billing_event_outbox WHERE usage_record_id IS NULL")
    op.drop_column("billing_event_outbox", "record_ids")
    op.alter_column("billing_event_outbox", "usage_record_id", nullable=False)
    op.create_index("idx_event_outbox_usage_record", "billing_event_outbox", ["usage_record_id"])
    if capturing:
        op.execute(_CAPTURE_PER_EVENT)
