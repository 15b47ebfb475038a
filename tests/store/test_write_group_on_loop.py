"""``events.write_group_on_loop``, PostgreSQL's group write sent from the event loop over its own
connections (``store/loop_connections.py``): the same answers and errors as the blocking
``write_group`` on a real server, the session's timeouts, and a connection the server ended
replaced by a new one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from sqlalchemy import text

from nself_billing import Billing
from nself_billing.errors import BillingError, DatabaseError, InvalidInput, NotFound
from nself_billing.services.ingest import IngestRequest
from nself_billing.store import events as store
from nself_billing.store.loop_connections import APPLICATION_NAME

from .test_write_group import _counts, _event

AT = datetime(2026, 1, 15, 12, 0, 0, 123456, tzinfo=UTC)
T = TypeVar("T")


@pytest.fixture
def backend() -> str:
    return "postgresql"


def _on_loop(billing: Billing, work: Callable[[], Awaitable[T]]) -> T:
    """``work()`` on an event loop of its own, the loop's connections closed afterwards."""

    async def run() -> T:
        try:
            return await work()
        finally:
            await billing.context.db.close_loop_connections()

    return asyncio.run(run())


def _customers(billing: Billing, *ids: str) -> None:
    for customer in ids:
        billing.customers.create(email=f"{customer}@example.com", customer_id=customer)


@pytest.mark.parametrize("queue_outbox", [False, True])
def test_new_and_seen_events_are_answered_as_the_blocking_write_answers(
    billing: Billing, queue_outbox: bool
) -> None:
    _customers(billing, "cus_g1", "cus_g2")
    db = billing.context.db
    first = [_event("cus_g1", "a"), _event("cus_g1", "b"), _event("cus_g2", "a")]
    again = [_event("cus_g1", "b"), _event("cus_g2", "a"), _event("cus_g2", "c")]

    async def work() -> tuple[set[tuple[str, str]], ...]:
        one = await store.write_group_on_loop(db, first, now=AT, queue_outbox=queue_outbox)
        two = await store.write_group_on_loop(db, again, now=AT, queue_outbox=queue_outbox)
        return one, two

    assert _on_loop(billing, work) == (
        {("cus_g1", "a"), ("cus_g1", "b"), ("cus_g2", "a")},
        {("cus_g2", "c")},
    )
    # the blocking write sees the loop's events as seen, as the loop's would
    assert store.write_group(db, again, now=AT, queue_outbox=queue_outbox) == set()
    assert _counts(billing) == (4, 6_000_000, 6_000_000, 4)
    with db.read() as conn:
        queued = conn.execute(text("SELECT count(*) FROM billing_usage_outbox")).scalar_one()
    assert queued == (4 if queue_outbox else 0)


def test_a_group_of_requests_is_answered_as_ingest_many_answers(billing: Billing) -> None:
    """Duplicates inside one request, across the requests of a group and with earlier groups
    count once, on the loop as in a thread (the same requests under other ids)."""
    _customers(billing, "cus_g1")

    def requests(prefix: str) -> list[IngestRequest]:
        def one(*ids: str) -> IngestRequest:
            events = [{"service": "api", "quantity": 1, "id": f"{prefix}{i}"} for i in ids]
            return IngestRequest(events, "cus_g1")

        return [one("a", "b", "a"), one("b", "c"), one("d"), one("d", "e")]

    ingest = billing.ingest
    blocking = ingest.ingest_many(requests("t-"))
    repeated = ingest.ingest_many(requests("t-")[1:])

    async def work() -> tuple[list[Any], list[Any]]:
        async def in_thread(function: Callable[[], T]) -> T:
            return await asyncio.to_thread(function)

        first = await ingest.ingest_many_on_loop(requests("l-"), in_thread=in_thread)
        second = await ingest.ingest_many_on_loop(requests("l-")[1:], in_thread=in_thread)
        return first, second

    assert _on_loop(billing, work) == (blocking, repeated)
    assert [(a.accepted, a.recorded, a.duplicates) for a in blocking] == [
        (3, 2, 1),
        (2, 1, 1),
        (1, 1, 0),
        (2, 1, 1),
    ]
    assert _counts(billing)[0] == 10


def _refused_both_ways(
    billing: Billing, group: list[store.NewUsage], error: type[BillingError]
) -> tuple[str, str]:
    """The messages of ``error`` raised by the loop's write and by the blocking one."""
    db = billing.context.db

    async def work() -> None:
        await store.write_group_on_loop(db, group, now=AT)

    with pytest.raises(error) as on_loop:
        _on_loop(billing, work)
    with pytest.raises(error) as blocking:
        store.write_group(db, group, now=AT)
    return on_loop.value.message, blocking.value.message


def test_an_unknown_customer_fails_the_group_as_the_blocking_write_does(billing: Billing) -> None:
    _customers(billing, "cus_known")
    group = [_event("cus_known", "x"), _event("cus_nobody", "y")]
    on_loop, blocking = _refused_both_ways(billing, group, NotFound)
    assert on_loop == blocking == "Customer not found: cus_known, cus_nobody"
    assert _counts(billing) == (0, 0, 0, 0)


def test_a_value_out_of_range_is_mapped_as_the_blocking_write_maps_it(billing: Billing) -> None:
    _customers(billing, "cus_known")
    group = [_event("cus_known", "x"), _event("cus_known", "huge", micros=2**63)]
    on_loop, blocking = _refused_both_ways(billing, group, InvalidInput)
    assert on_loop == blocking
    assert "out of range" in on_loop
    assert _counts(billing) == (0, 0, 0, 0)


def test_loop_connections_have_the_timeouts_set_before_and_after_they_opened(
    billing: Billing,
) -> None:
    db = billing.context.db
    db.set_timeouts(statement=2.5, lock=1.0)

    async def settings() -> list[tuple[str, str, str]]:
        async with db.loop_connections().cursor() as cursor:
            await cursor.execute(
                "SELECT current_setting('statement_timeout'), current_setting('lock_timeout'),"
                " current_setting('application_name')"
            )
            return [await cursor.fetchone()]

    async def work() -> list[tuple[str, str, str]]:
        before = await settings()
        db.set_timeouts(statement=4.0, lock=None)  # the pool is open now
        return before + await settings()

    assert _on_loop(billing, work) == [
        ("2500ms", "1s", APPLICATION_NAME),
        ("4s", "0", APPLICATION_NAME),
    ]


def _loop_sessions(billing: Billing) -> set[int]:
    with billing.context.db.read(transaction=False) as conn:
        pids = conn.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE application_name = :name"
                " AND datname = current_database()"
            ),
            {"name": APPLICATION_NAME},
        ).scalars()
        return set(pids)


def test_a_connection_the_server_ended_is_replaced(billing: Billing) -> None:
    _customers(billing, "cus_g1")
    db = billing.context.db

    async def work() -> tuple[set[int], set[int], list[str]]:
        await store.write_group_on_loop(db, [_event("cus_g1", "before")], now=AT)
        killed = await asyncio.to_thread(_loop_sessions, billing)
        assert killed
        with db.read(transaction=False) as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) pid"),
                {"pids": sorted(killed)},
            )
        deadline = time.monotonic() + 10
        while await asyncio.to_thread(_loop_sessions, billing) & killed:
            assert time.monotonic() < deadline, "the sessions did not end"
            await asyncio.sleep(0.05)
        outcomes = []
        for attempt in range(5):  # the ended session fails its write; a new one takes over
            try:
                await store.write_group_on_loop(db, [_event("cus_g1", "after")], now=AT)
            except DatabaseError:
                outcomes.append("failed")
                await asyncio.sleep(0.2 * attempt)
            else:
                outcomes.append("written")
                break
        return killed, await asyncio.to_thread(_loop_sessions, billing), outcomes

    killed, sessions, outcomes = _on_loop(billing, work)
    assert sessions and not sessions & killed
    assert outcomes[-1] == "written"
    assert outcomes.count("failed") <= 1
    with db.read() as conn:
        keys = conn.execute(
            text("SELECT idempotency_key FROM billing_usage_records ORDER BY 1")
        ).scalars()
        assert list(keys) == ["after", "before"]
