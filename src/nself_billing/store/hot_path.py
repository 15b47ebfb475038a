"""The quota hot path's driver access: a few driver connections of their own, outside the
SQLAlchemy pool (``UsageReader``: the period totals ``enforce`` and ``check`` read, and the
connections ``store/events.py``'s consume writes on), and SQLite's queue of consume writers
(``WriterGate``). The checked write itself is ``store/events.py``'s."""

from __future__ import annotations

import collections
import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX: consume writers queue through SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import Engine, event

from ..domain.services import SERVICE_NAMES
from ..errors import DatabaseError
from .db import billing_error, drained

_TOTAL_SQL = (
    "SELECT COALESCE(SUM(quantity_micros), 0) FROM billing_usage_daily"
    " WHERE customer_id = {0} AND service_name = {1} AND day >= {2} AND day < {3}"
)

#: every service's period total and event count in one row: the totals in SERVICE_NAMES order,
#: then the counts (the names are our constants)
_TOTALS_SQL = (
    "SELECT "  # noqa: S608 (only our own service names are written into the text)
    + ", ".join(
        f"COALESCE(SUM({column}) FILTER (WHERE service_name = '{name}'), 0)"
        for column in ("quantity_micros", "events")
        for name in SERVICE_NAMES
    )
    + " FROM billing_usage_daily WHERE customer_id = {0} AND service_name IN ("
    + ", ".join(f"'{name}'" for name in SERVICE_NAMES)
    + ") AND day >= {1} AND day < {2}"
)

# the reads of the hot path, prepared once per connection under these names (the consume
# statements are store/events.py's; psycopg names its own ``_pg3_<n>``, so none collide)
_PG_TOTAL = (b"nself_quota_total", _TOTAL_SQL.format("$1", "$2", "$3", "$4"))
_PG_TOTALS = (b"nself_quota_totals", _TOTALS_SQL.format("$1", "$2", "$3"))


class _PgDriver:
    """One hot-path PostgreSQL connection: psycopg's, used through its libpq handle."""

    __slots__ = ("conn", "encoding", "pgconn", "pid", "prepared")

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.pgconn = conn.pgconn
        self.encoding: str = conn.info.encoding
        self.pid = os.getpid()
        self.prepared: set[bytes] = set()


class UsageReader:
    """Driver connections for the quota hot path: ``enforce``/``check`` (one read) and
    ``consume`` (one statement on PostgreSQL, one ``BEGIN IMMEDIATE`` transaction on SQLite).

    They sit in front of every request of a tenant's API, so they skip the pool checkout and the
    explicit BEGIN/COMMIT of ``Database.read()``: a few connections, detached from the pool, in
    autocommit mode (one statement is its own consistent read). On PostgreSQL each statement is
    prepared once per connection and run through libpq directly (``PQexecPrepared`` with
    text parameters, the GIL released while it waits): a psycopg cursor round trip costs three
    times the CPU and twice the wall time of the bare call, and these are single statements with
    one row back, nothing a cursor adds is needed. A call borrows a connection from a small free
    list and gives it back, so any number of short-lived threads share at most ``keep`` idle
    connections. They are closed when the engine is disposed (``Billing.close()``); a forked
    child never uses its parent's."""

    def __init__(self, engine: Engine, *, keep: int = 8) -> None:
        self._engine = engine
        self._postgresql = engine.dialect.name == "postgresql"
        self._sql = _TOTAL_SQL.format("?", "?", "?", "?")
        self._totals_sql = _TOTALS_SQL.format("?", "?", "?")
        self._keep = keep
        self._idle: collections.deque[Any] = collections.deque()
        if self._postgresql:  # psycopg is loaded with the engine's dialect: no import cost here
            from psycopg import pq

            self._command_ok, self._tuples_ok = pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK
        event.listen(engine, "engine_disposed", lambda *_: self.close())

    def _connect(self) -> Any:
        proxy = self._engine.raw_connection()
        conn: Any = proxy.driver_connection
        proxy.detach()
        if self._postgresql:
            conn.autocommit = True
        return conn

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        """Borrow a SQLite driver connection; one that failed is closed, not given back.
        (PostgreSQL's run one prepared statement at a time: ``pg_row``.)"""
        assert not self._postgresql
        pid = os.getpid()
        conn: Any = None
        while conn is None:
            try:
                owner, candidate = self._idle.pop()
            except IndexError:
                candidate, owner = self._connect(), pid
            if owner == pid:  # a parent's connection is left alone: its socket is shared
                conn = candidate
        try:
            yield conn
        except BaseException:
            with contextlib.suppress(Exception):
                conn.close()
            raise
        if len(self._idle) < self._keep:
            self._idle.append((pid, conn))
        else:
            conn.close()

    def pg_row(self, statement: tuple[bytes, str], params: list[str | None]) -> list[Any]:
        """Run a prepared hot-path statement on PostgreSQL with text parameters (None is NULL);
        its one row, values as bytes in PostgreSQL's text format."""
        pid = os.getpid()
        driver: _PgDriver | None = None
        while driver is None:
            try:
                driver = self._idle.pop()
            except IndexError:
                try:
                    driver = _PgDriver(self._connect())
                except Exception as error:
                    raise billing_error(error, connecting=True) from error
            if driver.pid != pid:  # a parent's connection is left alone: its socket is shared
                driver = None
        name, sql = statement
        try:
            pgconn = driver.pgconn
            if name not in driver.prepared:
                result = pgconn.prepare(name, sql.encode())
                if result.status != self._command_ok:
                    raise DatabaseError(f"Database error: {_result_error(result)}")
                driver.prepared.add(name)
            encoding = driver.encoding
            result = pgconn.exec_prepared(
                name, [None if p is None else p.encode(encoding) for p in params]
            )
            if result.status != self._tuples_ok:
                raise DatabaseError(f"Database error: {_result_error(result)}")
            row = [result.get_value(0, i) for i in range(result.nfields)]
        except BaseException as error:
            with contextlib.suppress(Exception):
                driver.conn.close()
            if isinstance(error, Exception) and not isinstance(error, DatabaseError):
                raise billing_error(error) from error
            raise
        if len(self._idle) < self._keep:
            self._idle.append(driver)
        else:
            driver.conn.close()
        return row

    def total_micros(self, customer_id: str, service: str, first_day: date, end_day: date) -> int:
        if self._postgresql:
            return int(
                self.pg_row(
                    _PG_TOTAL, [customer_id, service, first_day.isoformat(), end_day.isoformat()]
                )[0]
            )
        return int(
            self._sqlite_row(
                self._sql, (customer_id, service, first_day.isoformat(), end_day.isoformat())
            )[0]
        )

    def totals_micros(self, customer_id: str, first_day: date, end_day: date) -> dict[str, int]:
        """Every service's usage over whole UTC days [first_day, end_day)."""
        return {
            service: micros
            for service, (micros, _events) in self.usage(customer_id, first_day, end_day).items()
        }

    def usage(self, customer_id: str, first_day: date, end_day: date) -> dict[str, tuple[int, int]]:
        """Every service's usage (micro-units) and events over whole UTC days
        [first_day, end_day), in one statement (one row; each service an index range of the
        rollups' key)."""
        params: list[str | None] = [customer_id, first_day.isoformat(), end_day.isoformat()]
        if self._postgresql:
            row: Sequence[Any] = self.pg_row(_PG_TOTALS, params)
        else:
            row = self._sqlite_row(self._totals_sql, params)
        count = len(SERVICE_NAMES)
        return {
            service: (int(row[n]), int(row[count + n])) for n, service in enumerate(SERVICE_NAMES)
        }

    def _sqlite_row(self, sql: str, params: Sequence[Any]) -> Any:
        # ``connection()`` inlined: this is the whole cost of ``enforce`` beyond the read
        pid = os.getpid()
        try:
            owner, conn = self._idle.pop()
            if owner != pid:
                conn = self._connect()
        except IndexError:
            conn = self._connect()
        try:
            row = conn.execute(sql, params).fetchone()
        except Exception as error:
            with contextlib.suppress(Exception):
                conn.close()
            raise billing_error(error) from error
        if len(self._idle) < self._keep:
            self._idle.append((pid, conn))
        else:
            conn.close()
        return row

    def close(self) -> None:
        pid = os.getpid()
        for entry in drained(self._idle):
            owner, conn = (entry.pid, entry.conn) if isinstance(entry, _PgDriver) else entry
            if owner == pid:
                with contextlib.suppress(Exception):
                    conn.close()


def _result_error(result: Any) -> str:
    message = (result.error_message or b"").decode("utf-8", "replace").strip().splitlines()
    return message[0] if message else f"unexpected result status {result.status}"


class WriterGate:
    """SQLite: queue ``consume`` writers on an OS file lock beside the database.

    BEGIN IMMEDIATE already admits one writer at a time, but SQLite's busy handler makes the
    others *sleep* (1, 2, 5, 10 ... ms) and retry, so under contention the write lock sits idle
    most of the time. Waiting on ``flock`` instead wakes the next writer as soon as the lock is
    released. Correctness does not depend on the gate (BEGIN IMMEDIATE does that); other writers
    (usage recording) are not gated and still queue through the busy handler."""

    def __init__(self, engine: Engine) -> None:
        database_path = engine.url.database if engine.dialect.name == "sqlite" else None
        in_memory = (
            not database_path or database_path == ":memory:" or (database_path.startswith("file:"))
        )
        self._path = None if in_memory else f"{database_path}.consume-lock"
        event.listen(engine, "engine_disposed", lambda *_: self.close())
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        if self._path is None or fcntl is None:
            yield
            return
        with self._lock:
            if self._fd is None or self._pid != os.getpid():
                # a forked child reopens: a shared open file would share the lock
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                self._pid = os.getpid()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None
