"""The dialect's INSERT, the one with ``ON CONFLICT`` (``on_conflict_do_nothing`` and
``on_conflict_do_update``): PostgreSQL's or SQLite's, chosen by the connection. Imported late
(see types.JsonDoc): the dialect modules cost start-up time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection


def upsert_insert(conn: Connection) -> Any:
    """``insert`` of the connection's dialect, for statements that upsert."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert
