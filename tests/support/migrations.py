"""Step a test database's schema to one Alembic revision, up or down: the tests of migrations
start from an old revision or go down and up again through one."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from nself_billing.store.db import Database
from nself_billing.store.migrate import MIGRATIONS_DIR


def migrate_to(
    db: Database, revision: str, *, down: bool = False, scripts: Path = MIGRATIONS_DIR
) -> None:
    """Upgrade ``db`` to ``revision`` (``down``: downgrade to it), with the migrations of
    ``scripts``, in one write transaction of the database's own connection."""
    config = Config()
    config.set_main_option("script_location", str(scripts))
    with db.write() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)
