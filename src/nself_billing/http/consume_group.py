"""Group commit for the request paths that write: ``POST /v1/quota/{service}/consume`` and
``POST /v1/usage`` (one mechanism, ``WriteGroups``, over each service's ``..._many`` call).

Each worker writes such requests in groups: the requests that arrive while a group is being
written wait (on the event loop, holding no thread and no connection) and go together in the
next one (``QuotaService.consume_many`` in a thread; ``UsageIngestService.ingest_many``, on
PostgreSQL ``ingest_many_on_loop`` on the event loop itself), which on
PostgreSQL is one transaction, one round trip and one WAL flush for the group. Nothing waits
for a timer: a request that finds no group in flight starts one at once, so a lone request is
written as soon as it comes, and under load the groups grow by themselves to the number of
requests that arrived during one write. Every request is still answered only after its own
writes are durable (or refused), and each is answered as if the requests of its group had come
one after the other in arrival order (a duplicate of an earlier request is a duplicate; a
request that fails fails alone).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from ..services.quotas import ConsumeRequest, ConsumeResult, QuotaService
from .threads import Threads

#: the most requests written in one group (one JSON parameter, one transaction)
MAX_GROUP = 256
#: groups of one worker being written at once: a group's locks are released before it waits for
#: the WAL flush, so the next group can be checked and written during that wait
IN_FLIGHT = 2

Req = TypeVar("Req")
Res = TypeVar("Res")


WriteMany = Callable[[list[Req]], Awaitable[Sequence[Res | Exception]]]


def in_threads(
    write_many: Callable[[list[Req]], Sequence[Res | Exception]], threads: Threads
) -> WriteMany[Req, Res]:
    """A blocking ``write_many`` run in a thread of ``threads`` (the event loop waits for it,
    holding nothing), for ``WriteGroups``."""

    async def in_thread(requests: list[Req]) -> Sequence[Res | Exception]:
        return await threads.run(write_many, requests)

    return in_thread


class WriteGroups(Generic[Req, Res]):
    """Requests written ``write_many`` at a time: a coroutine function, which writes on the
    event loop itself or in a thread (``in_threads``). ``write_many`` answers each request of
    a group, in order, with its result or its own exception. ``weight`` (default 1 per
    request) bounds a group by what it carries (events) instead."""

    def __init__(
        self,
        write_many: WriteMany[Req, Res],
        *,
        max_group: int = MAX_GROUP,
        in_flight: int = IN_FLIGHT,
        weight: Callable[[Req], int] | None = None,
    ) -> None:
        self._write_many = write_many
        self._max_group = max_group
        self._in_flight = in_flight
        self._weight = weight
        self._waiting: list[tuple[Req, asyncio.Future[Res]]] = []
        self._writers = 0
        #: the most requests written in one group so far (a figure for tests and benchmarks)
        self.largest_group = 0

    async def submit(self, request: Req) -> Res:
        """The answer to ``request`` once its group is written (its own error raised)."""
        answer: asyncio.Future[Res] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, answer))
        if self._writers < self._in_flight:
            self._writers += 1
            asyncio.get_running_loop().create_task(self._write())
        return await answer

    def _next_group(self) -> list[tuple[Req, asyncio.Future[Res]]]:
        size = min(len(self._waiting), self._max_group)
        if self._weight is not None:
            carried, size = 0, 0
            for request, _ in self._waiting:
                carried += self._weight(request)
                if size and carried > self._max_group:
                    break
                size += 1
        group = self._waiting[:size]
        del self._waiting[:size]
        return group

    async def _write(self) -> None:
        try:
            while self._waiting:
                group = self._next_group()
                self.largest_group = max(self.largest_group, len(group))
                try:
                    results = await self._write_many([request for request, _ in group])
                except BaseException as error:  # the group's own failure answers each request
                    for _, answer in group:
                        if not answer.done():
                            answer.set_exception(error)
                    if not isinstance(error, Exception):
                        raise
                    continue
                for (_, answer), result in zip(group, results, strict=True):
                    if answer.done():  # the client went away; its writes stand as written
                        continue
                    if isinstance(result, Exception):  # this request's own error
                        answer.set_exception(result)
                    else:
                        answer.set_result(result)
        finally:
            self._writers -= 1


class ConsumeGroups(WriteGroups[ConsumeRequest, ConsumeResult]):
    def __init__(self, quotas: QuotaService, threads: Threads, **options: Any) -> None:
        # a consume runs through UsageReader.pg_row (libpq's blocking calls): in a thread
        super().__init__(in_threads(quotas.consume_many, threads), **options)

    async def consume(self, request: ConsumeRequest) -> ConsumeResult:
        """The answer to ``request`` once its group is written (its BillingError raised)."""
        return await self.submit(request)
