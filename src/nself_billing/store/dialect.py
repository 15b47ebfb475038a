"""What differs between what the database holds and what Python holds: the dialect's INSERT,
the one with ``ON CONFLICT`` (``on_conflict_do_nothing`` and ``on_conflict_do_update``),
PostgreSQL's or SQLite's, chosen by the connection (imported late, see types.JsonDoc: the
dialect modules cost start-up time); and a stored status or kind read as the domain's enum."""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

from sqlalchemy import Connection

from ..errors import DatabaseError

E = TypeVar("E", bound=Enum)


def upsert_insert(conn: Connection) -> Any:
    """``insert`` of the connection's dialect, for statements that upsert."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def stored_enum(kind: type[E], value: object, what: str) -> E:
    """A stored status or kind as the domain's enum; a value the domain does not know (an
    operator's SQL) is one ``DatabaseError`` line, not a traceback."""
    try:
        return kind(value)
    except ValueError:
        raise DatabaseError(f"Unknown {what} in the database: {value!r}") from None
