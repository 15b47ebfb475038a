"""The reads of ``export``: daily usage, invoices, subscriptions, payment methods and payments
of a customer, and raw usage streamed straight from the driver, in constant memory.

Raw usage is the one export that can be huge (tens of millions of rows), so it bypasses the ORM
type layer: quantities are formatted from the exact integer micro-units by the database, times
are returned as text, and rows arrive in chunks (SQLite cursor ``fetchmany``; PostgreSQL
``COPY ... TO STDOUT``).
"""

from __future__ import annotations

import csv
from collections.abc import Generator, Iterable, Iterator
from datetime import date
from typing import Any

from sqlalchemy import Connection, func, select

from .subscriptions import to_subscription
from .tables import (
    invoice_lines,
    invoices,
    payment_methods,
    payments,
    subscriptions,
    usage_daily,
)

RAW_USAGE_COLUMNS = (
    "id",
    "customer_id",
    "service_name",
    "quantity",
    "recorded_at",
    "idempotency_key",
    "metadata",
)
CHUNK = 10_000


def _year_bounds(year: int | None) -> tuple[date, date] | None:
    return (date(year, 1, 1), date(year + 1, 1, 1)) if year else None


def year_days(year: int | None) -> tuple[date, date]:
    """The days ``[first, end)`` of a year, or of all time (``store.usage.daily_totals``)."""
    return _year_bounds(year) or (date.min, date.max)


def raw_usage_count(conn: Connection, customer_id: str, year: int | None) -> int:
    """The number of raw events, from the rollups (which count every event)."""
    query = select(func.coalesce(func.sum(usage_daily.c.events), 0)).where(
        usage_daily.c.customer_id == customer_id
    )
    bounds = _year_bounds(year)
    if bounds:
        query = query.where(usage_daily.c.day >= bounds[0], usage_daily.c.day < bounds[1])
    return int(conn.execute(query).scalar_one())


def _raw_where(year: int | None, placeholder: str) -> tuple[str, list[Any]]:
    where = f"customer_id = {placeholder}"
    bounds = _year_bounds(year)
    params: list[Any] = []
    if bounds:
        where += f" AND recorded_at >= {placeholder} AND recorded_at < {placeholder}"
        params = [bounds[0].isoformat(), bounds[1].isoformat()]
    return where, params


def raw_usage_rows(
    conn: Connection, customer_id: str, year: int | None
) -> Iterator[tuple[Any, ...]]:
    """SQLite: raw usage rows (``RAW_USAGE_COLUMNS``), quantity as exact decimal text."""
    where, params = _raw_where(year, "?")
    # ``where`` holds only fixed fragments and placeholders; values go in ``params``
    sql = (
        "SELECT id, customer_id, service_name,"  # noqa: S608
        " printf('%d.%06d', quantity_micros / 1000000, quantity_micros % 1000000),"
        " replace(substr(recorded_at, 1, 26), ' ', 'T') || '+00:00',"
        " idempotency_key, metadata"
        f" FROM billing_usage_records WHERE {where} ORDER BY id"
    )
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, [customer_id, *params])
        while True:
            rows = cursor.fetchmany(CHUNK)
            if not rows:
                return
            yield from rows
    finally:
        cursor.close()


def csv_field(value: str) -> str:
    """One CSV field by RFC 4180, as ``_csv_field`` renders it in SQL."""
    if any(char in value for char in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _csv_field(expression: str, *, always_quote: bool = False) -> str:
    """SQL that renders one CSV field by RFC 4180 (quoted when it holds , " CR or LF)."""
    quoted = f"""'"' || replace({expression}, '"', '""') || '"'"""
    if always_quote:
        return f"COALESCE({quoted}, '')"
    return (
        f"""CASE WHEN {expression} IS NULL THEN ''"""
        f""" WHEN {expression} GLOB '*[",'||char(10)||char(13)||']*' THEN {quoted}"""
        f" ELSE {expression} END"
    )


def raw_usage_csv_lines(
    conn: Connection, customer_id: str, year: int | None
) -> Iterator[list[str]]:
    """SQLite: raw usage as ready CSV lines, in chunks. SQLite renders each line itself, which
    is several times faster than formatting the fields in Python.

    One index range per service, in the order of the (customer_id, service_name) index: the
    customer and service fields are then the same on every row, so they are rendered once
    here rather than per row (rows without a service come first, as NULLs sort first)."""
    where, params = _raw_where(year, "?")
    line = " || ',' || ".join(
        (
            "id",
            "?",  # the customer's and the service's CSV fields, rendered once below
            "printf('%d.%06d', quantity_micros / 1000000, quantity_micros % 1000000)",
            "replace(substr(recorded_at, 1, 26), ' ', 'T') || '+00:00'",
            _csv_field("idempotency_key"),
            _csv_field("metadata", always_quote=True),
        )
    )
    # ``where`` holds only fixed fragments and placeholders; values go in the parameters
    by_service = (
        f"SELECT {line} FROM billing_usage_records"  # noqa: S608 (fixed text)
        f" WHERE {where} AND service_name = ? ORDER BY id"
    )
    no_service = (
        f"SELECT {line} FROM billing_usage_records"  # noqa: S608 (fixed text)
        f" WHERE {where} AND service_name IS NULL ORDER BY id"
    )
    customer = csv_field(customer_id)
    yield from _lines(conn, no_service, [f"{customer},", customer_id, *params])
    for service in _services_of(conn, customer_id):
        yield from _lines(
            conn, by_service, [f"{customer},{csv_field(service)}", customer_id, *params, service]
        )


def _services_of(conn: Connection, customer_id: str) -> Iterator[str]:
    """The customer's distinct service names, each found with one index seek."""
    raw = conn.connection.driver_connection
    after, last = ">=", ""  # the first seek includes an empty name
    while True:
        row = raw.execute(  # type: ignore[union-attr]
            "SELECT MIN(service_name) FROM billing_usage_records"  # noqa: S608 (fixed text)
            f" WHERE customer_id = ? AND service_name {after} ?",
            (customer_id, last),
        ).fetchone()
        if row is None or row[0] is None:
            return
        after, last = ">", row[0]
        yield last


def _lines(conn: Connection, sql: str, params: list[Any]) -> Iterator[list[str]]:
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        while True:
            rows = cursor.fetchmany(CHUNK)
            if not rows:
                return
            yield [row[0] for row in rows]
    finally:
        cursor.close()


def copy_raw_usage_csv(
    conn: Connection, customer_id: str, year: int | None, *, header: bool
) -> Generator[bytes, None, int]:
    """PostgreSQL: raw usage as CSV bytes straight from ``COPY ... TO STDOUT``; returns the
    rows COPY wrote (its own count: a key may hold a newline, so lines are not rows)."""
    where, params = _raw_where(year, "%s")
    # ``where`` holds only fixed fragments and placeholders; values go in ``params``
    sql = (
        "COPY (SELECT id, customer_id, service_name,"  # noqa: S608
        " (quantity_micros / 1000000)::text || '.' || lpad((quantity_micros %% 1000000)::text, 6,"
        " '0') AS quantity,"
        " to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"
        " AS recorded_at,"
        f" idempotency_key, metadata::text AS metadata FROM billing_usage_records WHERE {where}"
        f" ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER {'true' if header else 'false'})"
    )
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(sql, [customer_id, *params]) as copy:
        for chunk in copy:
            yield bytes(chunk)
    return int(cursor.rowcount)


def raw_usage(conn: Connection, customer_id: str, year: int | None) -> Iterator[Any]:
    """Raw usage rows (``RAW_USAGE_COLUMNS``, every value as text), in id order."""
    if conn.dialect.name == "postgresql":
        yield from csv.reader(_csv_lines(copy_raw_usage_csv(conn, customer_id, year, header=False)))
    else:
        yield from raw_usage_rows(conn, customer_id, year)


def raw_usage_csv(
    conn: Connection, customer_id: str, year: int | None
) -> Iterator[tuple[bytes, int]]:
    """Raw usage as CSV bytes with a header line: (chunk, rows in it), PostgreSQL's from
    ``COPY``, SQLite's rendered by SQLite; both backends write the same bytes."""
    if conn.dialect.name == "postgresql":
        yield from _counted(copy_raw_usage_csv(conn, customer_id, year, header=True))
        return
    yield (",".join(RAW_USAGE_COLUMNS) + "\n").encode(), 0
    for lines in raw_usage_csv_lines(conn, customer_id, year):
        yield ("\n".join(lines) + "\n").encode("utf-8"), len(lines)


def _counted(chunks: Generator[bytes, None, int]) -> Iterator[tuple[bytes, int]]:
    """COPY's chunks with the lines each ends (the header's excepted), for progress as the
    bytes go, then the difference to COPY's own count: a key holding a newline is one row over
    two lines, so the rows add up to COPY's count exactly."""
    counted, header = 0, True
    while True:
        try:
            chunk = next(chunks)
        except StopIteration as done:
            if done.value != counted:
                yield b"", done.value - counted
            return
        rows = chunk.count(b"\n")
        if header and rows:
            rows, header = rows - 1, False
        counted += rows
        yield chunk, rows


def _csv_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode("utf-8") + "\n"
    if pending:
        yield pending.decode("utf-8")


def invoices_for(conn: Connection, customer_id: str, year: int | None) -> list[dict[str, Any]]:
    query = (
        select(invoices)
        .where(invoices.c.customer_id == customer_id)
        .order_by(invoices.c.created_at, invoices.c.invoice_id)
    )
    bounds = _year_bounds(year)
    if bounds:
        query = query.where(
            func.coalesce(invoices.c.period_start, invoices.c.created_at) >= _utc(bounds[0]),
            func.coalesce(invoices.c.period_start, invoices.c.created_at) < _utc(bounds[1]),
        )
    rows = [dict(row._mapping) for row in conn.execute(query)]
    if rows:
        ids = [row["invoice_id"] for row in rows]
        lines: dict[str, list[dict[str, Any]]] = {}
        for line in conn.execute(
            select(invoice_lines)
            .where(invoice_lines.c.invoice_id.in_(ids))
            .order_by(invoice_lines.c.invoice_id, invoice_lines.c.line_no)
        ):
            item = dict(line._mapping)
            item.pop("id", None)
            lines.setdefault(item.pop("invoice_id"), []).append(item)
        for row in rows:
            row["lines"] = lines.get(row["invoice_id"], [])
    return rows


def subscriptions_for(conn: Connection, customer_id: str) -> list[dict[str, Any]]:
    """Every subscription of the customer, oldest first, with ``is_current`` (live)."""
    rows = conn.execute(
        select(subscriptions)
        .where(subscriptions.c.customer_id == customer_id)
        .order_by(subscriptions.c.created_at)
    )
    return [dict(row._mapping) | {"is_current": to_subscription(row).is_live} for row in rows]


def payment_methods_for(conn: Connection, customer_id: str) -> list[dict[str, Any]]:
    query = (
        select(payment_methods)
        .where(
            payment_methods.c.customer_id == customer_id, payment_methods.c.detached_at.is_(None)
        )
        .order_by(payment_methods.c.created_at, payment_methods.c.payment_method_id)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def payments_for(conn: Connection, customer_id: str) -> list[dict[str, Any]]:
    query = (
        select(payments)
        .where(payments.c.customer_id == customer_id)
        .order_by(payments.c.created_at, payments.c.payment_id)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def _utc(day: date) -> Any:
    from datetime import UTC, datetime

    return datetime(day.year, day.month, day.day, tzinfo=UTC)
