"""Blocking service calls off the event loop: one thread pool per worker process, no larger
than the database connection pool.

Each call holds at most one database connection at a time, so with as many threads as pooled
connections the connections are reused under load instead of opened and closed past the pool's
size (anyio's default of 40 threads made PostgreSQL fork a few hundred sessions a second under
the consume benchmark, and 40 threads fight over one GIL). A plain executor hop also costs
about half the CPU of ``starlette.concurrency.run_in_threadpool``'s (about 50 against 100 µs
per request in a micro-benchmark on this machine).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from starlette.requests import HTTPConnection

T = TypeVar("T")


class Threads:
    def __init__(self, size: int) -> None:
        self._executor = ThreadPoolExecutor(size, thread_name_prefix="nself-http")

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if kwargs:
            function = functools.partial(function, **kwargs)
        # the request's context goes along (its actor, for the audit log)
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, contextvars.copy_context().run, function, *args
        )

    def close(self) -> None:
        self._executor.shutdown(wait=True)


async def in_thread(
    request: HTTPConnection, function: Callable[..., T], *args: Any, **kwargs: Any
) -> T:
    """``function(*args, **kwargs)`` in one of the app's threads; the request waits, the loop
    does not."""
    threads: Threads = request.app.state.threads
    return await threads.run(function, *args, **kwargs)
