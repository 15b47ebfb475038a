"""prices: unit prices keep 9 decimal places (overage prices and invoice line unit prices)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

The spec's ``billing_quotas.overage_price DECIMAL(10,6)`` rounded pro's database overage
($0.0000015 a query, $1.50 per million) to $0.000002. The column (and the same column of
``billing_quota_overrides``, and ``billing_invoice_lines.unit_price``) is widened to
``NUMERIC(18,9)`` / ``NUMERIC(20,9)``: a wider type under the same name, so the spec's tables
and existing SQL keep working. PostgreSQL also gets the default catalog's one rounded value
back (pro's database overage, only where it still holds the rounded default).

SQLite keeps the declared types: a column's declared precision does not constrain what SQLite
stores (the values were stored unrounded as REAL), and the application reads them at the
widened scale of ``store/tables.py``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_WIDENED = (
    ("billing_quotas", "overage_price", (10, 6), (18, 9)),
    ("billing_quota_overrides", "overage_price", (10, 6), (18, 9)),
    ("billing_invoice_lines", "unit_price", (16, 6), (20, 9)),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, old, new in _WIDENED:
        op.alter_column(table, column, type_=sa.Numeric(*new), existing_type=sa.Numeric(*old))
    op.execute(
        "UPDATE billing_quotas SET overage_price = 0.0000015"
        " WHERE plan_name = 'pro' AND service_name = 'database' AND overage_price = 0.000002"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, old, new in _WIDENED:
        op.alter_column(table, column, type_=sa.Numeric(*old), existing_type=sa.Numeric(*new))
