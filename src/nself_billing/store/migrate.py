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
SCHEMA_REVISION = "0016"
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
            renumbered = renumbered_revision(conn, before)
            if renumbered != before:
                conn.execute(
                    text("UPDATE alembic_version SET version_num = :new"), {"new": renumbered}
                )
            _run_alembic(conn)
            if before is None:
                seed_default_plans(conn)
        return before, SCHEMA_REVISION


def renumbered_revision(conn: Connection, recorded: str | None) -> str | None:
    """The revision a database stamped before the renumbering of 0003-0005 is at now.

    Three revisions were renumbered so the numbers follow the chain (docs/ARCHITECTURE.md,
    "Schema"): subscriptions 0004 -> 0002, stripe 0005 -> 0003, quotas 0003 -> 0004. 0005 is
    no longer used, so a recorded 0005 is an old one. A recorded 0003 or 0004 is read from the
    schema itself, which tells the two meanings apart: an old 0004 (subscriptions) has no usage
    outbox yet, a new one has; an old 0003 (quotas) has PostgreSQL's consume function, a new
    one not yet. On SQLite the quotas step changes nothing, so an old 0003 is a new 0003 there.
    Every other revision (0001, 0006 and later) kept its id."""
    from sqlalchemy import text

    if recorded == "0005":
        return "0003"
    if recorded == "0004":
        has_outbox = conn.dialect.has_table(conn, "billing_usage_outbox")
        return "0004" if has_outbox else "0002"
    if recorded == "0003" and conn.dialect.name == "postgresql":
        consume = conn.execute(
            text("SELECT 1 FROM pg_proc WHERE proname = 'billing_quota_consume'")
        ).first()
        return "0004" if consume is not None else "0003"
    return recorded


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
