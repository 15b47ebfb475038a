"""PostgreSQL connections of the HTTP worker's own event loop: a small ``psycopg_pool``
``AsyncConnectionPool`` per worker process, for the statements the event loop sends itself
instead of handing them to a thread (the group write of small ``POST /v1/usage`` requests,
``store/events.write_group_on_loop``).

A thread hand-off costs two wake-ups (the thread's, then the loop's) and their futex waits in
the kernel, per group; on the loop the statement waits on the socket like any other I/O
(docs/HTTP.md, "The group write on the event loop"). The connections are opened as the blocking
ones are (``db.PG_CONNECT_ARGS``, the same statement and lock timeouts, autocommit: each
statement its own transaction), named ``nself-billing-loop`` in ``pg_stat_activity``. One that
broke (the server ended its session) is dropped when it comes back, and the pool checks the
others then (``check``). ``psycopg_pool`` is imported on first use only: SQLite never loads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import weakref
from collections.abc import AsyncIterator
from typing import Any

from .db import PG_SET_TIMEOUTS

#: the ``application_name`` of these sessions
APPLICATION_NAME = "nself-billing-loop"
#: connections kept open (the pool grows on demand up to ``MAX_SIZE``)
MIN_SIZE = 1
#: a worker writes at most ``http.consume_group.IN_FLIGHT`` groups at once; a little headroom
MAX_SIZE = 4
#: seconds a statement waits for a free connection before it fails (``DatabaseError``)
CHECKOUT_TIMEOUT = 10.0

_Timeouts = tuple[str, str]


class LoopConnections:
    """The pool of one worker process and one event loop, opened on first use in that loop.

    ``connect``: psycopg's connection keywords (host, dbname, user ... and the shared connect
    arguments). ``timeouts``: PostgreSQL's ``statement_timeout`` and ``lock_timeout`` as
    ``set_config`` takes them (milliseconds as text, "0" for none); ``set_timeouts`` changes
    them for every connection, those already open included (each is brought up to date when
    it is next lent)."""

    def __init__(self, connect: dict[str, Any], *, timeouts: _Timeouts = ("0", "0")) -> None:
        self._connect = {**connect, "application_name": APPLICATION_NAME, "autocommit": True}
        self._timeouts = timeouts
        self._pool: Any = None
        self._owner: tuple[int, asyncio.AbstractEventLoop] | None = None
        #: each open connection's timeouts and cursor
        self._kept: weakref.WeakKeyDictionary[Any, tuple[_Timeouts, Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._checks: set[asyncio.Task[None]] = set()

    def set_timeouts(self, timeouts: _Timeouts) -> None:
        self._timeouts = timeouts

    @contextlib.asynccontextmanager
    async def cursor(self) -> AsyncIterator[Any]:
        """A psycopg ``AsyncCursor`` of a connection in autocommit, lent for the block (each
        connection keeps one: a new cursor per statement, and the pool's ``connection()``
        block, cost more than a group's share of the statement). Errors are the driver's
        (``psycopg.Error``; ``psycopg_pool.PoolTimeout`` is one)."""
        pool = await self._open_pool()
        conn = await pool.getconn()
        try:
            kept = self._kept.get(conn)
            if kept is None or kept[0] != self._timeouts:
                await self._apply_timeouts(conn)
                kept = self._kept[conn]
            yield kept[1]
        except Exception:
            if conn.broken or conn.closed:
                # the server ended the session (a restart, pg_terminate_backend): the pool
                # replaces this one when it comes back; check the idle ones now rather than
                # have each fail a group of its own
                check = asyncio.get_running_loop().create_task(_check(pool))
                self._checks.add(check)  # the loop keeps only a weak reference to a task
                check.add_done_callback(self._checks.discard)
            raise
        finally:
            await pool.putconn(conn)

    async def _open_pool(self) -> Any:
        owner = (os.getpid(), asyncio.get_running_loop())
        if self._owner != owner:
            # first use, or a new loop (or a forked child): a pool serves the loop that opened
            # it; one of another loop is left alone (its loop closes it, or its process ends)
            from psycopg_pool import AsyncConnectionPool

            self._pool = AsyncConnectionPool(
                kwargs=self._connect,
                min_size=MIN_SIZE,
                max_size=MAX_SIZE,
                open=False,
                configure=self._apply_timeouts,
                timeout=CHECKOUT_TIMEOUT,
                name=APPLICATION_NAME,
            )
            self._owner = owner
            self._kept = weakref.WeakKeyDictionary()
        pool = self._pool
        if pool.closed:  # opened once per pool: open() takes the pool's lock
            await pool.open()
        return pool

    async def _apply_timeouts(self, conn: Any) -> None:
        timeouts = self._timeouts
        kept = self._kept.get(conn)
        cursor = conn.cursor() if kept is None else kept[1]
        await cursor.execute(PG_SET_TIMEOUTS, timeouts)
        self._kept[conn] = (timeouts, cursor)

    async def close(self) -> None:
        """Close the pool of this loop (its connections end); the next use opens a new one."""
        pool, owner = self._pool, self._owner
        if pool is None or owner != (os.getpid(), asyncio.get_running_loop()):
            return
        self._pool = self._owner = None
        await pool.close()

    def close_from_outside(self) -> None:
        """``close`` from code outside the pool's loop (``Billing.close()``): done on that
        loop if it still runs, or at once if it stopped; nothing if no pool is open here."""
        pool, owner = self._pool, self._owner
        if pool is None or owner is None or owner[0] != os.getpid():
            return
        self._pool = self._owner = None
        loop = owner[1]
        if loop.is_closed():
            _finish(pool)
        elif not loop.is_running():
            loop.run_until_complete(pool.close())
        elif _running_loop() is loop:  # on the loop itself, from sync code: as soon as it can
            loop.create_task(pool.close())
        else:
            asyncio.run_coroutine_threadsafe(pool.close(), loop).result(timeout=10)


async def _check(pool: Any) -> None:
    """Replace the pool's broken idle connections (none if it closed meanwhile)."""
    with contextlib.suppress(Exception):
        await pool.check()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _finish(pool: Any) -> None:
    """Close the idle connections of a pool whose loop is gone (its tasks ended with it)."""
    for conn in list(getattr(pool, "_pool", ())):
        with contextlib.suppress(Exception):
            conn.pgconn.finish()
