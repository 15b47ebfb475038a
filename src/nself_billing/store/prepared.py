"""Statements built once per dialect and run in the caller's transaction: on PostgreSQL
through the psycopg connection underneath (prepared server-side), on SQLite through SQLAlchemy.
Used by the hot statements of webhook deliveries (``webhook_events``, ``stripe_mirror``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, exc


def insert_for(dialect: str) -> Any:
    """The dialect's ``insert`` (with ``on_conflict_do_*``)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def dialect_insert(conn: Connection) -> Any:
    return insert_for(conn.dialect.name)


class Prepared:
    """Named statements, built once per dialect by ``build``: executed with a parameter dict,
    a prebuilt statement skips SQLAlchemy's per-call construction and cache-key work (most of
    the cost of a webhook delivery when they were built per call)."""

    def __init__(self, build: Callable[[str], dict[str, Any]]) -> None:
        self._build = functools.cache(build)
        self._pg_sql: dict[tuple[str, tuple[str, ...]], tuple[str, dict[str, Any]]] = {}

    def run(self, conn: Connection, name: str, params: dict[str, Any]) -> Any:
        """The first row (or None) of statement ``name`` run with ``params`` in ``conn``'s
        transaction. PostgreSQL runs its SQL, compiled once, on the psycopg connection
        underneath (prepared server-side; a third of SQLAlchemy's per-statement cost), with
        errors wrapped as SQLAlchemy's so ``Database.write()`` translates them as usual;
        SQLite runs it through SQLAlchemy (its datetimes need the column types' conversion)."""
        if conn.dialect.name != "postgresql":
            result = conn.execute(self._build(conn.dialect.name)[name], params)
            return result.first() if result.returns_rows else None
        key = (name, tuple(params))
        compiled = self._pg_sql.get(key)
        if compiled is None:
            statement = self._build("postgresql")[name].compile(
                dialect=conn.dialect, column_keys=list(params)
            )
            compiled = self._pg_sql[key] = (statement.string, dict(statement.params))
        sql, defaults = compiled
        driver: Any = conn.connection.driver_connection
        dbapi_error: type[Exception] = conn.dialect.dbapi.Error  # type: ignore[union-attr]
        try:
            cursor = driver.execute(sql, {**defaults, **params}, prepare=True)
            return cursor.fetchone() if cursor.description else None
        except dbapi_error as error:
            raise exc.DBAPIError.instance(sql, params, error, dbapi_error) from error
