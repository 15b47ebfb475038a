"""``export usage --raw`` from ClickHouse: the events shipped (exact, ``FINAL``) merged in the
export's order (service, time, key, id: ``store/export.py``'s ``pg_raw_order``) with those
still waiting in PostgreSQL's outbox, so an export never misses an event the shipper has not
moved yet, and never repeats one it is moving (same id, written once)."""

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


#: an export row's place in the export's order, and its id (the last item)
Place = tuple[bool, str, str, str, int]


def place(service: str | None, time: str, key: str | None, event_id: int) -> Place:
    """Where an event goes in the export's order: no service first, then by service, time and
    key (compared by code point, which is the bytes' order in UTF-8), then id."""
    return (service is not None, service or "", time, key or "", int(event_id))


def _row_place(row: tuple[Any, ...]) -> Place:
    return place(row[2], row[4], row[5], row[0])


def _merged(
    shipped: Iterable[tuple[Place, Any]], waiting: Iterable[tuple[Place, Any]]
) -> Iterator[Any]:
    """Both streams of (place, item) in the export's order, each event once (a batch in
    flight is in both, at the same place)."""
    last = None
    for where, item in heapq.merge(shipped, waiting, key=lambda pair: pair[0]):
        if where == last:
            continue
        last = where
        yield item


def rows(
    events: ClickHouseEvents, conn: Connection, customer_id: str, year: int | None
) -> Iterator[tuple[Any, ...]]:
    """Raw events as (id, customer, service, quantity text, time text, key, metadata)."""
    waiting = _pending(conn, customer_id, year)
    start, end = _bounds(year)
    shipped = ((_row_place(row), row) for row in events.export_rows(customer_id, start, end))
    yield from _merged(shipped, [(_row_place(row), row) for row in waiting])


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
    """CSV lines (no header) to ``out``; returns their number. Without waiting events the
    engine renders the lines itself and they are copied as they stream."""
    waiting = _pending(conn, customer_id, year)
    start, end = _bounds(year)
    count = 0
    if not waiting:
        for chunk in events.export_csv(customer_id, start, end):
            out.write(chunk)
            count += chunk.count(b"\n")
            if progress:
                progress(count)
        return count
    shipped = (
        (place(service, time, key, event_id), line + "\n")
        for service, time, key, event_id, line in events.export_lines(customer_id, start, end)
    )
    pending = [(_row_place(row), _csv_line(row)) for row in waiting]
    batch: list[str] = []
    for line in _merged(shipped, pending):
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
