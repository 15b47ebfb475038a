"""Group commit for ``POST /v1/quota/{service}/consume``.

Each worker writes consume requests in groups: the requests that arrive while a group is being
written wait (on the event loop, holding no thread and no connection) and go together in the
next one, ``QuotaService.consume_many``, which on PostgreSQL is one transaction, one round trip
and one WAL flush for the group. Nothing waits for a timer: a request that finds no group in
flight starts one at once, so a lone request is written as soon as it comes, and under load the
groups grow by themselves to the number of requests that arrived during one write. Every
request is still answered only after its own event is durable (or refused), and admission is
that of the same requests consumed one after the other in arrival order.
"""

from __future__ import annotations

import asyncio

from ..services.quotas import ConsumeRequest, ConsumeResult, QuotaService
from .threads import Threads

#: the most requests written in one group (one JSON parameter, one transaction)
MAX_GROUP = 256
#: groups of one worker being written at once: a group's locks are released before it waits for
#: the WAL flush, so the next group can be checked and written during that wait
IN_FLIGHT = 2


class ConsumeGroups:
    def __init__(
        self,
        quotas: QuotaService,
        threads: Threads,
        *,
        max_group: int = MAX_GROUP,
        in_flight: int = IN_FLIGHT,
    ) -> None:
        self._quotas = quotas
        self._threads = threads
        self._max_group = max_group
        self._in_flight = in_flight
        self._waiting: list[tuple[ConsumeRequest, asyncio.Future[ConsumeResult]]] = []
        self._writers = 0

    async def consume(self, request: ConsumeRequest) -> ConsumeResult:
        """The answer to ``request`` once its group is written (its BillingError raised)."""
        answer: asyncio.Future[ConsumeResult] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, answer))
        if self._writers < self._in_flight:
            self._writers += 1
            asyncio.get_running_loop().create_task(self._write())
        return await answer

    async def _write(self) -> None:
        try:
            while self._waiting:
                group = self._waiting[: self._max_group]
                del self._waiting[: self._max_group]
                try:
                    results = await self._threads.run(
                        self._quotas.consume_many, [request for request, _ in group]
                    )
                except BaseException as error:  # the group's own failure answers each request
                    for _, answer in group:
                        if not answer.done():
                            answer.set_exception(error)
                    if not isinstance(error, Exception):
                        raise
                    continue
                for (_, answer), result in zip(group, results, strict=True):
                    if answer.done():  # the client went away; its event stands as written
                        continue
                    if isinstance(result, ConsumeResult):
                        answer.set_result(result)
                    else:  # this request's own error: the others of the group stand
                        answer.set_exception(result)
        finally:
            self._writers -= 1
