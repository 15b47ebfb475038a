"""Schema creation and upgrades, run automatically on first use and by ``migrate``.

The hot path (every command) costs one small query: the recorded revision is compared with
``SCHEMA_REVISION`` and Alembic is only imported when they differ. A lock (BEGIN IMMEDIATE on
SQLite, an advisory lock on PostgreSQL) makes concurrent first runs migrate exactly once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily: the catalog's start-up path reads SCHEMA_REVISION alone
    from sqlalchemy import Connection

    from .db import Database

#: the newest revision in migrations/versions (a test checks it against Alembic's head)
SCHEMA_REVISION = "0014"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 0x6E73656C66  # "nself"


def current_revision(conn: Connection) -> str | None:
    if conn.dialect.name == "sqlite":
        exists = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'"
        ).first()
    else:
        exists = conn.exec_driver_sql(
            "SELECT 1 FROM information_schema.tables WHERE table_name='alembic_version'"
            " AND table_schema = current_schema()"
        ).first()
    if not exists:
        return None
    row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
    return row[0] if row else None


def schema_is_current(db: Database) -> bool:
    with db.read() as conn:
        return current_revision(conn) == SCHEMA_REVISION


def upgrade(db: Database) -> tuple[str | None, str]:
    """Bring the schema to the newest revision; seed the plan catalog on a new database.

    Returns (revision before, revision after)."""
    from sqlalchemy import text

    from .catalog import seed_default_plans

    with db.write() as conn:
        if db.is_postgresql:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        before = current_revision(conn)
        if before != SCHEMA_REVISION:
            _run_alembic(conn)
            if before is None:
                seed_default_plans(conn)
        return before, SCHEMA_REVISION


def ensure_schema(db: Database) -> None:
    if not schema_is_current(db):
        upgrade(db)


def _run_alembic(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


def alembic_head() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()
