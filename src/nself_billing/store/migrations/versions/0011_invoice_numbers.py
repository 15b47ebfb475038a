"""invoices: sequential, gap-free invoice numbers and due dates

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

``billing_invoice_counters`` holds one sequence per invoice number prefix; the transaction that
finalizes an invoice takes the next number from it (store/invoices.py), so numbers are never
skipped nor given twice. ``billing_invoices.number`` held a copy of the invoice id for local
invoices until now: that placeholder is cleared (invoices finalized before this revision keep
no number; Stripe's numbers of mirrored invoices stay). Numbers are not a unique index: a
mirrored Stripe invoice carries whatever number Stripe gave it.
``billing_invoices.due_at`` is when an invoice is due.
"""

import sqlalchemy as sa
from alembic import op

from nself_billing.store.types import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_invoice_counters",
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("last_number", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("updated_at", UTCDateTime(), server_default=sa.func.now(), nullable=True),
        sa.PrimaryKeyConstraint("prefix"),
    )
    with op.batch_alter_table("billing_invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", UTCDateTime(), nullable=True))
    op.execute("UPDATE billing_invoices SET number = NULL WHERE number = invoice_id")


def downgrade() -> None:
    with op.batch_alter_table("billing_invoices", schema=None) as batch_op:
        batch_op.drop_column("due_at")
    op.drop_table("billing_invoice_counters")
