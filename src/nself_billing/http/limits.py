"""The request deadline: a request not answered within ``BILLING_HTTP_REQUEST_TIMEOUT`` seconds
is answered 503 with ``Retry-After`` instead of hanging (say, behind a table lock held by an
operator's session).

The database gives up first where it can (the service's sessions have a lock and a statement
timeout below the deadline: ``Database.set_timeouts``), and then nothing was written; the
deadline is the bound on everything else (waiting for a thread, a slow body, a statement past
its timeout). A request stopped by the deadline may still complete in its thread: its outcome
is unknown to the client, which retries with the same ids (every write is idempotent by id).
(``GET /healthz`` never reaches it: ``http.app.BillingApp`` answers it first.)

One timer per worker, not one per request: every request of a worker has the same deadline,
so the requests in flight, kept in arrival order, are in deadline order, and a single timer,
armed for the oldest, cancels those past their deadline (as ``asyncio.timeout`` would:
the request's task is cancelled and the cancellation becomes the 503). ``asyncio.timeout``
started and stopped an event-loop timer per request, about 14 µs, a tenth of a one-event
``POST /v1/usage``'s CPU in the worker; a dictionary entry costs well under a microsecond.
"""

from __future__ import annotations

import asyncio
import itertools

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import DeadlineExceeded
from .errors import error_response


class _InFlight:
    """A request being answered: its task, when its deadline passes (loop time), how many
    cancellations its task had pending when it began, and whether the deadline cancelled it."""

    __slots__ = ("cancelling", "due", "expired", "task")

    def __init__(self, task: asyncio.Task[object], due: float) -> None:
        self.task = task
        self.due = due
        self.cancelling = task.cancelling()
        self.expired = False


class RequestDeadline:
    def __init__(self, app: ASGIApp, *, seconds: float | None) -> None:
        self.app = app
        self.seconds = seconds
        #: the requests in flight, oldest first (dicts keep insertion order)
        self._in_flight: dict[int, _InFlight] = {}
        self._sequence = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        seconds = self.seconds
        if seconds is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        task = asyncio.current_task()
        assert task is not None, "an ASGI request runs in a task"
        loop = task.get_loop()
        watch = _InFlight(task, loop.time() + seconds)
        number = next(self._sequence)
        self._in_flight[number] = watch
        if self._timer is None or self._loop is not loop:
            self._arm(loop, watch.due)
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
            return
        except asyncio.CancelledError:
            # the deadline's own cancellation, and nobody else's pending: a timeout
            if not watch.expired or task.uncancel() > watch.cancelling:
                raise
        finally:
            self._in_flight.pop(number, None)
        if started:  # too late for a status: the connection is closed on the client
            raise TimeoutError()
        response = error_response(
            DeadlineExceeded(
                f"The request did not finish within {seconds:g} s; retry later (with the same ids)"
            )
        )
        await response(scope, receive, send)

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._loop is not loop:  # a new event loop (tests run one per client)
            if self._timer is not None:
                self._timer.cancel()
            self._in_flight = {
                number: watch
                for number, watch in self._in_flight.items()
                if watch.task.get_loop() is loop
            }
            self._loop = loop
        self._timer = loop.call_at(when, self._expire)

    def _expire(self) -> None:
        """Cancel the requests past their deadline; the timer again for the oldest other."""
        self._timer = None
        loop = self._loop
        assert loop is not None
        now = loop.time()
        for watch in self._in_flight.values():
            if watch.expired:  # cancelled, its task not yet run since
                continue
            if watch.due > now:
                self._timer = loop.call_at(watch.due, self._expire)
                return
            watch.expired = True
            watch.task.cancel()
