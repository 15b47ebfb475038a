"""The request deadline: a request not answered within ``BILLING_HTTP_REQUEST_TIMEOUT`` seconds
is answered 503 with ``Retry-After`` instead of hanging (say, behind a table lock held by an
operator's session).

The database gives up first where it can (the service's sessions have a lock and a statement
timeout below the deadline: ``Database.set_timeouts``), and then nothing was written; the
deadline is the bound on everything else (waiting for a thread, a slow body, a statement past
its timeout). A request stopped by the deadline may still complete in its thread: its outcome
is unknown to the client, which retries with the same ids (every write is idempotent by id).
(``GET /healthz`` never reaches it: ``http.app.BillingApp`` answers it first.)"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import DeadlineExceeded
from .errors import error_response


class RequestDeadline:
    def __init__(self, app: ASGIApp, *, seconds: float | None) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.seconds is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            async with asyncio.timeout(self.seconds):
                await self.app(scope, receive, watched_send)
        except TimeoutError:
            if started:  # too late for a status: the connection is closed on the client
                raise
            seconds = f"{self.seconds:g}"
            response = error_response(
                DeadlineExceeded(
                    f"The request did not finish within {seconds} s; retry later "
                    "(with the same ids)"
                )
            )
            await response(scope, receive, send)
