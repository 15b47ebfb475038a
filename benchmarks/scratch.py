"""What every benchmark needs around its measurement: a clean environment for the ``nself``
commands it runs, and a PostgreSQL database of its own, dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager


def bench_env(root: str, db_url: str | None, **extra: str) -> dict[str, str]:
    """The environment without the developer's own billing settings, rooted at ``root``, on
    ``db_url`` (PostgreSQL) or the embedded SQLite when None, plus ``extra`` variables."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("BILLING_", "STRIPE_", "NSELF_"))
    }
    env.update({"NSELF_ROOT": root, **extra})
    if db_url:
        env["BILLING_DATABASE_URL"] = db_url
    return env


@contextmanager
def scratch_pg_database(admin_url: str, prefix: str = "nself_bench") -> Iterator[str]:
    """A new, empty PostgreSQL database for one benchmark; yields its SQLAlchemy URL."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def settle(pg_url: str | None) -> None:
    """Start the next measurement from a quiet disk: PostgreSQL writes back what the step
    before it loaded (a CHECKPOINT) and the page cache is flushed (sync), instead of doing so
    during the next figure (an area measured right after the baseline's COPY load ran its
    SQLite single events ~15% slower than alone)."""
    if pg_url:
        import psycopg

        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    os.sync()
