"""Revisions 0003-0005 were renumbered so their numbers follow the chain (subscriptions 0004 ->
0002, stripe 0005 -> 0003, quotas 0003 -> 0004; docs/ARCHITECTURE.md, "Schema"). A database
stamped by a release before that is upgraded from where it really is, on both backends.

The old-revision databases are made by Alembic itself from the migrations as they were
released: the same files with the old revision ids (``_released_scripts``), so their
``alembic_version`` holds the old id and their schema is what the old release built."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from nself_billing.store.db import Database
from nself_billing.store.migrate import (
    MIGRATIONS_DIR,
    SCHEMA_REVISION,
    current_revision,
    renumbered_revision,
    upgrade,
)

from ..conftest import scratch_database
from ..support.migrations import migrate_to

#: file -> (revision, down revision) as released before the renumbering
RELEASED = {
    "0002_subscriptions.py": ("0004", "0001"),
    "0003_stripe.py": ("0005", "0004"),
    "0004_quotas.py": ("0003", "0005"),
    "0006_quota_consume_procedure.py": ("0006", "0003"),
}


def _released_scripts(folder: Path) -> Path:
    """A copy of the migrations with the revision ids they were released with."""
    target = folder / "released_migrations"
    shutil.copytree(MIGRATIONS_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    for name, (revision, down) in RELEASED.items():
        path = target / "versions" / name
        source = path.read_text("utf-8")
        source = re.sub(r'^revision = "\d+"$', f'revision = "{revision}"', source, flags=re.M)
        source = re.sub(r'^down_revision = "\d+"$', f'down_revision = "{down}"', source, flags=re.M)
        path.write_text(source, "utf-8")
    return target


def _schema(db: Database) -> dict[str, object]:
    """Tables with their columns and indexes, and on PostgreSQL the billing routines."""
    with db.read() as conn:
        inspector = inspect(conn)
        tables = {
            name: (
                sorted(c["name"] for c in inspector.get_columns(name)),
                sorted(str(i["name"]) for i in inspector.get_indexes(name)),
            )
            for name in inspector.get_table_names()
        }
        routines: list[tuple[str, str]] = []
        if db.is_postgresql:
            routines = [
                (str(name), str(kind))
                for name, kind in conn.execute(
                    text(
                        "SELECT proname, prokind FROM pg_proc"
                        " WHERE proname LIKE 'billing%' ORDER BY 1, 2"
                    )
                )
            ]
    return {"tables": tables, "routines": routines}


@pytest.fixture
def databases(backend: str, tmp_path: Path) -> Iterator[tuple[Database, Database]]:
    """Two empty databases of the backend: one to age, one made fresh for comparison."""
    if backend == "sqlite":
        old = Database(f"sqlite:///{tmp_path / 'old.db'}")
        fresh = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
        try:
            yield old, fresh
        finally:
            old.dispose()
            fresh.dispose()
        return
    with scratch_database("nself_renum_a") as a, scratch_database("nself_renum_b") as b:
        old, fresh = Database(a), Database(b)
        try:
            yield old, fresh
        finally:
            old.dispose()
            fresh.dispose()


@pytest.mark.parametrize("released", ["0004", "0005", "0003"])
def test_a_database_of_a_released_revision_upgrades_to_the_current_schema(
    databases, tmp_path, released
):
    old, fresh = databases
    migrate_to(old, released, scripts=_released_scripts(tmp_path))
    with old.read() as conn:
        assert current_revision(conn) == released
    assert upgrade(old) == (released, SCHEMA_REVISION)
    upgrade(fresh)
    with old.read() as conn:
        assert current_revision(conn) == SCHEMA_REVISION
    assert _schema(old) == _schema(fresh)


@pytest.mark.parametrize(
    ("revision", "expected"),
    [("0002", "0002"), ("0003", "0003"), ("0004", "0004")],
)
def test_a_renumbered_revision_is_read_as_itself(databases, revision, expected):
    """A database stamped with the new ids (e.g. by ``alembic downgrade``) is not mistaken for
    an old one, and upgrades from there."""
    old, fresh = databases
    migrate_to(old, revision, scripts=MIGRATIONS_DIR)
    with old.read() as conn:
        assert renumbered_revision(conn, revision) == expected
    upgrade(old)
    upgrade(fresh)
    assert _schema(old) == _schema(fresh)


@pytest.mark.parametrize(
    ("released", "now"), [("0004", "0002"), ("0005", "0003"), ("0001", "0001")]
)
def test_the_released_ids_map_to_the_renumbered_ones(databases, tmp_path, released, now):
    old, _ = databases
    migrate_to(old, released, scripts=_released_scripts(tmp_path))
    with old.read() as conn:
        assert renumbered_revision(conn, released) == now


def test_the_released_quotas_revision_maps_by_what_the_schema_holds(backend, databases, tmp_path):
    """On PostgreSQL an old 0003 (quotas) has the consume function: it is the new 0004. On
    SQLite the quotas step changes nothing, so it reads as the new 0003 (same schema)."""
    old, _ = databases
    migrate_to(old, "0003", scripts=_released_scripts(tmp_path))
    with old.read() as conn:
        assert renumbered_revision(conn, "0003") == ("0004" if backend == "postgresql" else "0003")


def test_the_migration_files_follow_their_chain():
    """Each file's number is its revision, and each revision's parent has a lower number."""
    numbers = []
    for path in sorted((MIGRATIONS_DIR / "versions").glob("[0-9]*.py")):
        source = path.read_text("utf-8")
        revision = re.search(r'^revision = "(\d+)"$', source, re.M)
        down = re.search(r'^down_revision = (?:"(\d+)"|None)$', source, re.M)
        assert revision is not None and down is not None, path.name
        assert path.name.startswith(revision.group(1) + "_"), path.name
        if down.group(1) is not None:
            assert down.group(1) == numbers[-1], path.name
        numbers.append(revision.group(1))
    assert numbers == sorted(numbers)
    assert numbers[-1] == SCHEMA_REVISION
