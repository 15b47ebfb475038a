"""usage: the customer of an event is checked once per rollup row, not once per event

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02

The foreign key ``billing_usage_records.customer_id -> billing_customers`` checked every event:
on PostgreSQL one lookup of the customer per row, which also locks the customer's row
(``FOR KEY SHARE``), so two concurrent writes of one customer make a multixact of that lock
(docs/HTTP.md, "PostgreSQL's CPU per event", has the figures). It moves to the per-day rollups,
``billing_usage_daily.customer_id -> billing_customers``: every event is written in the same
transaction as its rollup row (``store/events.py``, the consume procedures of 0008, the group
procedure of 0014), and an update of an existing rollup row does not change its key, so the
database checks the customer when a (customer, service, day) first appears, not per event. An
event of an unknown customer is still refused with nothing stored (its rollup row cannot be
inserted, and the transaction fails), and a customer with usage still cannot be deleted (its
rollup rows reference it). Raw rows inserted with SQL by hand, outside the write path, are
checked when ``usage rebuild`` counts them.

PostgreSQL: drop the raw table's constraint, add the rollups' one ``NOT VALID`` and validate it
(no long exclusive lock; the rollups were built from checked events). SQLite cannot alter a
constraint: both tables are copied into new ones, as 0008 did.
"""

import re

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_RAW = "billing_usage_records"
_DAILY = "billing_usage_daily"
_DAILY_FK = "billing_usage_daily_customer_id_fkey"
_RAW_FK = "billing_usage_records_customer_id_fkey"
#: how SQLAlchemy writes the constraint in SQLite's schema
_SQLITE_FK = "FOREIGN KEY(customer_id) REFERENCES billing_customers (customer_id)"
_FK_OF = (
    "SELECT conname FROM pg_constraint WHERE contype = 'f' AND conrelid = %s::regclass"
    " AND confrelid = 'billing_customers'::regclass"
)


def _pg_drop_fk(table: str) -> None:
    bind = op.get_bind()
    for (name,) in bind.exec_driver_sql(_FK_OF, (table,)).all():
        op.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')


def _pg_add_fk(table: str, name: str) -> None:
    op.execute(
        f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY (customer_id)"
        " REFERENCES billing_customers (customer_id) NOT VALID"
    )
    op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")


def _sqlite_rebuild(table: str, *, with_fk: bool) -> None:
    """Copy ``table`` into one with (``with_fk``) or without the customer's foreign key, then
    swap the two and recreate its indexes."""
    bind = op.get_bind()
    create = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    # the name may be quoted: SQLite quotes it in the schema of a renamed table
    head = re.match(rf'CREATE TABLE ("?){table}\1 \(', create)
    if head is None or (_SQLITE_FK in create) == with_fk:
        raise RuntimeError(f"{table}: unexpected schema, cannot migrate: {create}")
    body = create[head.end() :]
    if with_fk:
        closing = body.rindex(")")
        body = body[:closing].rstrip() + f", \n\t{_SQLITE_FK}\n" + body[closing:]
    else:
        body = body.replace(f"{_SQLITE_FK}, \n\t", "").replace(f", \n\t{_SQLITE_FK}", "")
        if _SQLITE_FK in body:
            raise RuntimeError(f"{table}: unexpected schema, cannot migrate: {create}")
    indexes = [
        sql
        for (sql,) in bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
            " AND sql IS NOT NULL",
            (table,),
        )
    ]
    listed = ", ".join(row[1] for row in bind.exec_driver_sql(f"PRAGMA table_info({table})"))
    staging = f"{table}_0016"
    op.execute(f"CREATE TABLE {staging} (" + body)
    op.execute(f"INSERT INTO {staging} ({listed}) SELECT {listed} FROM {table}")  # noqa: S608
    op.execute(f"DROP TABLE {table}")
    op.execute(f"ALTER TABLE {staging} RENAME TO {table}")
    for sql in indexes:
        op.execute(sql)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _pg_add_fk(_DAILY, _DAILY_FK)
        _pg_drop_fk(_RAW)
        return
    _sqlite_rebuild(_DAILY, with_fk=True)
    _sqlite_rebuild(_RAW, with_fk=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _pg_add_fk(_RAW, _RAW_FK)
        _pg_drop_fk(_DAILY)
        return
    _sqlite_rebuild(_RAW, with_fk=True)
    _sqlite_rebuild(_DAILY, with_fk=False)
