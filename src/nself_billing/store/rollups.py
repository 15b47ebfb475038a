"""Checking and rebuilding the per-day usage rollups from the raw events.

Every write path of the library keeps ``billing_usage_daily`` current in the same transaction as
the raw event. Rows an operator inserts with SQL (only the spec's columns) bypass that: their
``quantity_micros`` is empty and no rollup counts them. ``usage rebuild`` repairs both, under a
lock that keeps writers out while it runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, text

from ..domain.money import to_micros

#: a rollup key: (customer_id, service_name, day)
Key = tuple[str, str, date]


@dataclass(frozen=True)
class Drift:
    customer_id: str
    service: str
    day: date
    #: (quantity_micros, events) in the rollup table and as recounted from the raw events
    stored: tuple[int, int]
    recounted: tuple[int, int]


def lock_usage(conn: Connection) -> None:
    """Keep other writers of usage out until the transaction ends (SQLite: the write
    transaction is already exclusive)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "LOCK TABLE billing_usage_records, billing_usage_daily IN SHARE ROW EXCLUSIVE MODE"
        )


def missing_micros(conn: Connection) -> int:
    """How many raw events lack their micro-units (inserted with SQL: no rollup counts them)."""
    return int(
        conn.exec_driver_sql(
            "SELECT COUNT(*) FROM billing_usage_records WHERE quantity_micros IS NULL"
        ).scalar_one()
    )


def fill_missing_micros(conn: Connection, batch: int = 5_000) -> int:
    """Give rows inserted with SQL their exact ``quantity_micros`` (from ``quantity``, half-up
    to 6 decimals); returns how many rows were filled."""
    filled = 0
    while True:
        rows = conn.execute(
            text(
                "SELECT id, quantity FROM billing_usage_records WHERE quantity_micros IS NULL"
                " ORDER BY id LIMIT :n"
            ),
            {"n": batch},
        ).all()
        if not rows:
            return filled
        conn.execute(
            text("UPDATE billing_usage_records SET quantity_micros = :micros WHERE id = :id"),
            [
                {
                    "id": row_id,
                    "micros": 0 if quantity is None else to_micros(Decimal(str(quantity))),
                }
                for row_id, quantity in rows
            ],
        )
        filled += len(rows)


def _day_sql(conn: Connection) -> str:
    if conn.dialect.name == "postgresql":
        return "(recorded_at AT TIME ZONE 'UTC')::date"
    return "substr(recorded_at, 1, 10)"


def recount(conn: Connection) -> Iterator[tuple[Key, tuple[int, int]]]:
    """Per (customer, service, day): the sum of micro-units and the count of raw events."""
    result = conn.execute(
        text(
            f"SELECT customer_id, service_name, {_day_sql(conn)} AS day,"  # noqa: S608
            " SUM(quantity_micros), COUNT(*) FROM billing_usage_records"
            " WHERE customer_id IS NOT NULL AND service_name IS NOT NULL"
            " AND recorded_at IS NOT NULL"
            " GROUP BY 1, 2, 3"
        )
    )
    for customer_id, service, day, micros, events in result:
        yield (customer_id, service, _as_date(day)), (int(micros or 0), int(events))


def stored(conn: Connection) -> dict[Key, tuple[int, int]]:
    result = conn.execute(
        text(
            "SELECT customer_id, service_name, day, quantity_micros, events"
            " FROM billing_usage_daily"
        )
    )
    return {(c, s, _as_date(d)): (int(m), int(e)) for c, s, d, m, e in result}


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def drift(conn: Connection, *, since: date | None = None) -> list[Drift]:
    """Every rollup row that differs from the recount of the raw events (missing rows and rows
    without raw events included); only days from ``since`` on when given (raw events before
    it may have been deleted once shipped to ClickHouse, and the rollups keep their totals)."""
    have = stored(conn)
    if since is not None:
        have = {key: value for key, value in have.items() if key[2] >= since}
    found: list[Drift] = []
    for key, counted in recount(conn):
        if since is not None and key[2] < since:
            continue
        kept = have.pop(key, (0, 0))
        if kept != counted:
            found.append(Drift(*key, stored=kept, recounted=counted))
    found.extend(
        Drift(*key, stored=kept, recounted=(0, 0)) for key, kept in have.items() if kept != (0, 0)
    )
    return sorted(found, key=lambda d: (d.customer_id, d.service, d.day))


def rewrite(conn: Connection, rows: list[Drift]) -> None:
    """Set each drifted rollup row to its recount (delete it when no raw event is left)."""
    if not rows:
        return

    def day(value: date) -> object:  # SQLite stores days as ISO text
        return value if conn.dialect.name == "postgresql" else value.isoformat()

    conn.execute(
        text(
            "DELETE FROM billing_usage_daily WHERE customer_id = :c AND service_name = :s"
            " AND day = :d"
        ),
        [{"c": d.customer_id, "s": d.service, "d": day(d.day)} for d in rows],
    )
    kept = [d for d in rows if d.recounted != (0, 0)]
    if kept:
        conn.execute(
            text(
                "INSERT INTO billing_usage_daily (customer_id, service_name, day, quantity_micros,"
                " events) VALUES (:c, :s, :d, :m, :e)"
            ),
            [
                {
                    "c": d.customer_id,
                    "s": d.service,
                    "d": day(d.day),
                    "m": d.recounted[0],
                    "e": d.recounted[1],
                }
                for d in kept
            ],
        )
