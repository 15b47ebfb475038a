"""Alembic environment. Always driven from Python (store/migrate.py) with a live connection
that is already inside the write transaction holding the migration lock."""

from alembic import context

from nself_billing.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
