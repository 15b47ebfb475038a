"""``export usage --raw`` from ClickHouse: the events shipped (exact, ``FINAL``) merged in id
order with those still waiting in PostgreSQL's outbox, so an export never misses an event
the shipper has not moved yet, and never repeats one it is moving (same id, written once)."""

from __future__ import annotations

import csv
import heapq
import io
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any

from ..store import event_outbox as event_store
from ..store.clickhouse import ClickHouseEvents
from ..store.db import Connection

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _bounds(year: int | None) -> tuple[datetime | None, datetime | None]:
    if year is None:
        return None, None
    return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)


def _pending(conn: Connection, customer_id: str, year: int | None) -> list[tuple[Any, ...]]:
    start, end = _bounds(year)
    return event_store.pending_rows(conn, customer_id, start or EARLIEST, end or LATEST)


def _merged(shipped: Iterable[tuple[Any, ...]], waiting: list[tuple[Any, ...]]) -> Iterator[Any]:
    """Both streams in id order, each id once (a batch in flight is in both)."""
    last = None
    for row in heapq.merge(shipped, waiting, key=lambda r: int(r[0])):
        if row[0] == last:
            continue
        last = row[0]
        yield row


def rows(
    events: ClickHouseEvents, conn: Connection, customer_id: str, year: int | None
) -> Iterator[tuple[Any, ...]]:
    """Raw events as (id, customer, service, quantity text, time text, key, metadata)."""
    waiting = _pending(conn, customer_id, year)
    start, end = _bounds(year)
    yield from _merged(events.export_rows(customer_id, start, end), waiting)


def _csv_line(row: tuple[Any, ...]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        ["" if value is None else value for value in row]
    )
    return buffer.getvalue()


def write_csv(
    events: ClickHouseEvents,
    conn: Connection,
    customer_id: str,
    year: int | None,
    out: IO[bytes],
    progress: Callable[[int], None] | None,
) -> int:
    """CSV lines (no header) to ``out``; returns their number (events, not newlines: a field
    may hold newlines). Without waiting events the engine renders the lines itself and they
    are copied as they stream, counted by ``export_csv``."""
    waiting = _pending(conn, customer_id, year)
    start, end = _bounds(year)
    count = 0
    if not waiting:
        for chunk, lines in events.export_csv(customer_id, start, end):
            out.write(chunk)
            count += lines
            if progress:
                progress(count)
        return count
    shipped = ((row[0], row[1] + "\n") for row in events.export_lines(customer_id, start, end))
    pending = [(row[0], _csv_line(row)) for row in waiting]
    batch: list[str] = []
    for _id, line in _merged(shipped, pending):
        batch.append(line)
        if len(batch) == 10_000:
            out.write("".join(batch).encode("utf-8"))
            count += len(batch)
            batch.clear()
            if progress:
                progress(count)
    out.write("".join(batch).encode("utf-8"))
    count += len(batch)
    if progress:
        progress(count)
    return count
