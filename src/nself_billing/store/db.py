"""The database handle: one engine, explicit read and write transactions.

SQLite under several processes: WAL, a busy timeout, and ``BEGIN IMMEDIATE`` for write
transactions, so concurrent writers queue instead of failing with "database is locked".
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from sqlalchemy import Connection as Connection  # the transaction handle use cases annotate with
from sqlalchemy import Engine, create_engine, event, exc

from ..errors import Conflict, DatabaseError, InvalidInput
from .quick_sqlite import read_only_uri

if TYPE_CHECKING:
    from .loop_connections import LoopConnections

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: psycopg's connect arguments of every PostgreSQL connection, the engine's and those of the
#: event loop (``loop_connections``)
PG_CONNECT_ARGS: dict[str, Any] = {"connect_timeout": 5}
#: a PostgreSQL session's statement and lock timeouts (``Database.set_timeouts``)
PG_SET_TIMEOUTS = (
    "SELECT set_config('statement_timeout', %s, false), set_config('lock_timeout', %s, false)"
)
#: page cache per connection, KiB (SQLite's default is 2 MiB): a batch of events with random
#: idempotency keys touches a leaf of the key index per event, and with the default cache most
#: of those reads miss once the index outgrows it. Memory only; durability is unchanged.
SQLITE_CACHE_KIB = 32 * 1024


def _first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__


class Database:
    """An engine plus the two ways to use it: ``read()`` and ``write()``, each one transaction."""

    def __init__(self, url: str, *, pool_size: int = 5, read_only_path: Path | None = None) -> None:
        """``read_only_path``: open this SQLite file read-only (it cannot be written here):
        reads work, a write fails with ``READ_ONLY`` (see ``sqlite_read_only``)."""
        self.url = url
        #: True when the database cannot be written from here (a read-only SQLite file)
        self.read_only = read_only_path is not None
        if read_only_path is not None:
            self.engine = _sqlite_engine(url, read_only_path=read_only_path)
        elif url.startswith("sqlite"):
            self.engine = _sqlite_engine(url)
        else:
            self.engine = create_engine(
                url,
                pool_size=pool_size,
                max_overflow=10,
                pool_pre_ping=False,
                connect_args=dict(PG_CONNECT_ARGS),
            )
        self.dialect: str = self.engine.dialect.name
        self._hot_idle: list[_HotConnection] = []
        self._generation = 0
        self._timeouts: tuple[float | None, float | None] = (None, None)
        self._timeouts_listening = False
        self._loop_connections: LoopConnections | None = None

    def set_timeouts(self, *, statement: float | None, lock: float | None) -> None:
        """Bound every wait of this handle's sessions from now on (seconds; None: no bound).

        PostgreSQL: ``statement_timeout`` and ``lock_timeout`` of each session; SQLite: its
        busy timeout (``lock``; without one it keeps its default, and it has no statement
        timeout). A statement past a bound fails (``DatabaseError``) and its transaction rolls
        back. The HTTP service sets them (its requests must not hang behind a lock held by
        another session); the CLI and the library do not (an export or a migration may run
        long). Connections already open are closed, so that every session has them."""
        self._timeouts = (statement, lock)
        if self._loop_connections is not None:
            self._loop_connections.set_timeouts(self._pg_timeouts())
        if not self._timeouts_listening:
            event.listen(self.engine, "connect", self._apply_timeouts)
            self._timeouts_listening = True
        self.dispose()

    def _pg_timeouts(self) -> tuple[str, str]:
        statement, lock = self._timeouts
        return (_milliseconds(statement), _milliseconds(lock))

    def _apply_timeouts(self, dbapi_connection: Any, _record: Any) -> None:
        _, lock = self._timeouts
        if self.is_postgresql:
            autocommit = dbapi_connection.autocommit
            dbapi_connection.autocommit = True
            try:
                dbapi_connection.execute(PG_SET_TIMEOUTS, self._pg_timeouts())
            finally:
                dbapi_connection.autocommit = autocommit
        elif lock is not None:
            dbapi_connection.execute(f"PRAGMA busy_timeout = {_milliseconds(lock)}")

    def loop_connections(self) -> LoopConnections:
        """PostgreSQL's connections of the running event loop (``store/loop_connections.py``),
        made on first call: opened as the engine's are (its connect arguments and timeouts)."""
        if self._loop_connections is None:
            if not self.is_postgresql:
                raise RuntimeError("loop connections are PostgreSQL's")
            from .loop_connections import LoopConnections

            _, params = self.engine.dialect.create_connect_args(self.engine.url)
            params.pop("context", None)  # SQLAlchemy's adapters: psycopg's own serve here
            self._loop_connections = LoopConnections(
                {**params, **PG_CONNECT_ARGS}, timeouts=self._pg_timeouts()
            )
        return self._loop_connections

    async def close_loop_connections(self) -> None:
        """Close the running loop's connections (the HTTP app's shutdown)."""
        if self._loop_connections is not None:
            await self._loop_connections.close()

    def close_loop_connections_from_outside(self) -> None:
        """Close the loop connections from synchronous code (``Billing.close()``): on their
        loop if it still runs, at once if it ended (an app served without its shutdown)."""
        if self._loop_connections is not None:
            self._loop_connections.close_from_outside()

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def read(self, *, transaction: bool = True) -> Iterator[Connection]:
        """A read transaction; or, with ``transaction`` False, a connection in autocommit on
        which each statement reads its own snapshot: for reads of one statement (or of
        statements that need not agree), on PostgreSQL one round trip each instead of
        BEGIN, the reads and COMMIT."""
        if transaction:
            with self._connection(write=False) as conn:
                yield conn
            return
        try:
            with self.engine.connect() as conn:
                if self.is_postgresql:
                    yield conn.execution_options(isolation_level="AUTOCOMMIT")
                else:  # no BEGIN (the sqlite3 module's own transactions are off)
                    yield conn.execution_options(sqlite_begin=None)
        except exc.DBAPIError as error:
            raise billing_error(error) from error

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        with self._connection(write=True) as conn:
            yield conn

    @contextmanager
    def _connection(self, *, write: bool) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                if write:
                    conn.execution_options(sqlite_begin="IMMEDIATE")
                conn.info.pop(TRANSACTION_STATE, None)  # a pooled connection's leftovers
                try:
                    with conn.begin():
                        yield conn
                finally:
                    state = conn.info.pop(TRANSACTION_STATE, None)
        except exc.DBAPIError as error:
            raise billing_error(error) from error
        # committed: what was to happen only if it did (the audit log lines)
        for hook in state.after_commit if state is not None else ():
            hook()

    def integrity_problems(self, limit: int = 5) -> list[str] | None:
        """SQLite's ``PRAGMA quick_check``: the first problems found in the file (an empty list
        when it is sound); None on PostgreSQL, whose server checks its own storage."""
        if not self.is_sqlite:
            return None
        with self.read() as conn:
            rows = conn.exec_driver_sql(f"PRAGMA quick_check({int(limit)})").scalars().all()
        lines = [line for row in rows for line in str(row).splitlines()]
        lines = [line for line in lines if line and not line.startswith("*** in database")]
        return [] if lines == ["ok"] else lines[:limit]

    @contextmanager
    def hot_cursor(self) -> Iterator[Any]:
        """A driver cursor (sqlite3 or psycopg) for the hot paths that cannot afford
        SQLAlchemy's per-statement overhead, lent for the block. No transaction is open:
        PostgreSQL's connection is in autocommit (one statement is one transaction), SQLite's
        runs its own ``BEGIN IMMEDIATE ... COMMIT``; the block must end any transaction it
        begins. Connections and their cursors are kept on a small free list between blocks (a
        pool checkout, or a new cursor with its adapters, costs as much as the insert), so any
        number of threads, short-lived ones included, share a few of them; one that raised
        inside a block is dropped (its state is unknown). Raise driver errors with
        ``raise_driver_error()``."""
        hot = self._borrow_hot()
        try:
            yield hot.cursor
        except BaseException:
            hot.discard()
            raise
        key = (os.getpid(), self._generation)
        if hot.key == key and len(self._hot_idle) < HOT_IDLE:
            self._hot_idle.append(hot)
        else:
            hot.close(self.is_postgresql)

    def _borrow_hot(self) -> _HotConnection:
        key = (os.getpid(), self._generation)
        while True:
            try:
                hot = self._hot_idle.pop()
            except IndexError:
                break
            if hot.key == key:
                return hot
            if hot.key[0] == key[0]:  # from before dispose(): back to the pool
                hot.close(self.is_postgresql)
            # else a forked child leaves its parent's connection alone (a shared socket)
        try:
            fairy = self.engine.raw_connection()
        except exc.DBAPIError as error:
            raise billing_error(error) from error
        driver: Any = fairy.driver_connection
        if self.is_postgresql:
            driver.autocommit = True
        return _HotConnection(key, fairy, driver.cursor())

    @property
    def driver_error(self) -> type[Exception]:
        """The driver's base error class (what the ``hot_cursor()`` paths catch)."""
        error: type[Exception] = self.engine.dialect.dbapi.Error  # type: ignore[union-attr]
        return error

    def raise_driver_error(self, error: Exception) -> NoReturn:
        """Raise a driver error of a ``hot_cursor()`` block as ``write()`` would: translated,
        chained to SQLAlchemy's wrapper."""
        wrapped = exc.DBAPIError.instance(None, None, error, self.driver_error)
        if not isinstance(wrapped, exc.DBAPIError):  # instance() may wrap as StatementError
            raise error
        raise billing_error(wrapped) from wrapped

    def dispose(self) -> None:
        self._generation += 1
        pid = os.getpid()
        for hot in drained(self._hot_idle):
            if hot.key[0] == pid:  # a forked child leaves its parent's connections alone
                hot.close(self.is_postgresql)
        self.engine.dispose()


def drained(idle: Any) -> Iterator[Any]:
    """Take every entry off a free list of driver connections (a list or deque that other
    threads pop too: one may empty it between the check and the pop). For closing the
    idle connections of ``Database.hot_cursor()`` and ``hot_path.UsageReader``."""
    while idle:
        try:
            yield idle.pop()
        except IndexError:
            return


#: ``Connection.info`` key of the ``TransactionState`` of the transaction in progress
TRANSACTION_STATE = "nself_billing_transaction"


class TransactionState:
    """What one ``read()``/``write()`` transaction carries besides its statements."""

    __slots__ = ("after_commit", "cache")

    def __init__(self) -> None:
        self.after_commit: list[Callable[[], None]] = []
        #: values read once per transaction (e.g. the notification endpoints)
        self.cache: dict[str, Any] = {}


def transaction_state(conn: Connection) -> TransactionState:
    """The state of ``conn``'s transaction; its ``after_commit`` hooks run once the
    transaction committed, and are dropped if it rolls back."""
    state = conn.info.get(TRANSACTION_STATE)
    if state is None:
        state = conn.info[TRANSACTION_STATE] = TransactionState()
    return state


#: hot-path connections kept idle between ``hot_cursor()`` blocks (the others go back to the pool)
HOT_IDLE = 4


class _HotConnection:
    __slots__ = ("cursor", "fairy", "key")

    def __init__(self, key: tuple[int, int], fairy: Any, cursor: Any) -> None:
        self.key, self.fairy, self.cursor = key, fairy, cursor

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            self.fairy.invalidate()

    def close(self, postgresql: bool) -> None:
        try:
            if postgresql:  # back to the pool's default before it takes it back
                self.fairy.driver_connection.autocommit = False
            self.fairy.close()
        except Exception:
            self.discard()


def billing_error(
    error: BaseException, *, connecting: bool = False
) -> DatabaseError | Conflict | InvalidInput:
    """The one translation of a database error into the BillingError tree: SQLAlchemy's, and
    the driver's own (sqlite3, psycopg) on the paths that run on the driver (the quota hot
    path, the event write path). Both follow the DB-API's exception classes, so the class
    names decide. ``connecting``: the error came from opening a connection."""
    if connecting:
        return DatabaseError(f"Database connection failed: {_first_line(error)}")
    kinds = {kind.__name__ for kind in type(error).__mro__}
    if "DataError" in kinds:  # e.g. a value out of a column's range
        return InvalidInput(f"Invalid data: {_first_line(error)}")
    if "OperationalError" in kinds:
        return DatabaseError(_describe(error))
    if "InterfaceError" in kinds:
        return DatabaseError(f"Database connection failed: {_first_line(error)}")
    if "IntegrityError" in kinds:
        return Conflict(f"Conflicting data: {_first_line(error)}")
    return DatabaseError(f"Database error: {_first_line(error)}")


#: the one line a write to a read-only database ends in
READ_ONLY = (
    "The database is read-only here: this command writes to it (read commands such as usage, "
    "quota, customer show and invoice list still work)"
)


def _describe(error: BaseException) -> str:
    message = _first_line(error)
    lowered = message.lower()
    if "readonly database" in lowered or "read-only transaction" in lowered:
        return READ_ONLY
    if any(hint in lowered for hint in ("connection", "could not", "unable to open", "timeout")):
        return f"Database connection failed: {message}"
    return f"Database error: {message}"


def _milliseconds(seconds: float | None) -> str:
    """A timeout as the databases take it (0: none)."""
    return str(0 if seconds is None else max(1, round(seconds * 1000)))


def sqlite_url(path: Path) -> str:
    return f"sqlite+pysqlite:///{path}"


def sqlite_read_only(path: Path) -> bool:
    """Whether an existing SQLite file cannot be written by this process (its permissions, an
    immutable flag, a read-only mount): it is then opened read-only, so reads still work."""
    return path.is_file() and not os.access(path, os.W_OK)


def _sqlite_engine(url: str, *, read_only_path: Path | None = None) -> Engine:
    if read_only_path is None:
        engine = create_engine(url, pool_size=5, max_overflow=10)
    else:
        import sqlite3

        uri = read_only_uri(read_only_path)
        engine = create_engine(
            url,
            pool_size=5,
            max_overflow=10,
            creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # take transaction control away from the sqlite3 module: we emit BEGIN ourselves
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if read_only_path is None:  # choosing the journal mode writes the file
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode is not None:  # None: Database.read(transaction=False)
            conn.exec_driver_sql(f"BEGIN {mode}")

    return engine
