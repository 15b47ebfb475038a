"""Queries for usage: raw events (billing_usage_records) and per-day rollups
(billing_usage_daily), kept in the same transaction so reads never scan raw events."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Connection, Engine, exc, func, select

from ..domain.money import from_micros
from ..errors import NotFound
from .outbox import PG_OUTBOX_CTE, SQLITE_OUTBOX_FROM_RECORD, outbox_identifier
from .tables import customers, usage_daily

if TYPE_CHECKING:
    from .db import Database


class NewUsage(NamedTuple):
    """A validated event, ready to store (a NamedTuple: batches make millions of them)."""

    customer_id: str
    service: str
    quantity: Decimal
    quantity_micros: int
    metadata: dict[str, Any]
    recorded_at: datetime
    idempotency_key: str
    #: ``metadata`` already serialized (saves a second json.dumps on the hot path)
    metadata_json: str = ""

    @property
    def day(self) -> date:
        """The UTC day whose rollup holds this event."""
        moment = self.recorded_at
        return (moment if moment.tzinfo is UTC else moment.astimezone(UTC)).date()


def _insert(conn: Connection) -> Any:
    """The dialect's INSERT with ON CONFLICT (imported late: see types.JsonDoc)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


# The hot paths below speak to the driver directly (through the SQLAlchemy connection, so in its
# transaction): Core's per-statement overhead is several times the cost of the insert itself.
# Parameters are always bound, never formatted into the SQL.

_SQLITE_INSERT = (
    "INSERT INTO billing_usage_records (customer_id, service_name, quantity, metadata,"
    " recorded_at, quantity_micros, idempotency_key, ingested_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING"
)
_SQLITE_ROLLUP = (
    "INSERT INTO billing_usage_daily (customer_id, service_name, day, quantity_micros, events)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (customer_id, service_name, day) DO UPDATE SET"
    " quantity_micros = quantity_micros + excluded.quantity_micros,"
    " events = events + excluded.events"
)

#: one round trip: the event, and its rollup only if the event is new
_PG_INSERT_ONE = (
    "WITH e AS (INSERT INTO billing_usage_records (customer_id, service_name, quantity, metadata,"
    " recorded_at, quantity_micros, idempotency_key, ingested_at)"
    " VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s, %s)"
    " ON CONFLICT (idempotency_key) DO NOTHING RETURNING customer_id, service_name,"
    " quantity_micros)"
    " INSERT INTO billing_usage_daily AS d (customer_id, service_name, day, quantity_micros,"
    " events) SELECT customer_id, service_name, %s::date, quantity_micros, 1 FROM e"
    " ON CONFLICT (customer_id, service_name, day) DO UPDATE SET"
    " quantity_micros = d.quantity_micros + excluded.quantity_micros,"
    " events = d.events + excluded.events RETURNING 1"
)
_PG_STAGING = (
    "SET LOCAL client_min_messages = warning;"
    " CREATE TEMP TABLE IF NOT EXISTS billing_usage_staging (customer_id text, service_name text,"
    " metadata text, recorded_at timestamptz, quantity_micros bigint, idempotency_key text)"
    " ON COMMIT DELETE ROWS"
)
_PG_COPY = (
    "COPY billing_usage_staging (customer_id, service_name, metadata, recorded_at,"
    " quantity_micros, idempotency_key) FROM STDIN (FORMAT BINARY)"
)
_PG_COPY_TYPES = ("text", "text", "text", "timestamptz", "int8", "text")
#: new events (sorted, so concurrent batches with shared keys lock in one order and cannot
#: deadlock), then their per-day totals, in one statement; returns how many were new
_PG_MERGE = (
    "WITH e AS (INSERT INTO billing_usage_records (customer_id, service_name, quantity, metadata,"
    " recorded_at, quantity_micros, idempotency_key, ingested_at)"
    " SELECT customer_id, service_name, (quantity_micros::numeric / 1000000)::numeric(20, 6),"
    " metadata::jsonb, recorded_at, quantity_micros, idempotency_key, %s"
    ' FROM billing_usage_staging ORDER BY idempotency_key COLLATE "C"'
    " ON CONFLICT (idempotency_key) DO NOTHING"
    " RETURNING customer_id, service_name, recorded_at, quantity_micros),"
    " r AS (INSERT INTO billing_usage_daily AS d (customer_id, service_name, day,"
    " quantity_micros, events) SELECT customer_id, service_name,"
    " (recorded_at AT TIME ZONE 'UTC')::date AS day, sum(quantity_micros), count(*) FROM e"
    ' GROUP BY 1, 2, 3 ORDER BY customer_id COLLATE "C", service_name COLLATE "C", 3'
    " ON CONFLICT (customer_id, service_name, day) DO UPDATE SET"
    " quantity_micros = d.quantity_micros + excluded.quantity_micros,"
    " events = d.events + excluded.events)"
    " SELECT count(*) FROM e"
)


def _raw(conn: Connection) -> Any:
    """The driver's own connection (sqlite3 or psycopg) under a SQLAlchemy connection."""
    return conn.connection.driver_connection


def _dbapi_error(bind: Connection | Engine) -> type[Exception]:
    error: type[Exception] = bind.dialect.dbapi.Error  # type: ignore[union-attr]
    return error


# --- the Stripe usage outbox: with ``queue_outbox`` (only when the Stripe provider is
# configured) each new event is also queued in billing_usage_outbox, in the same statement
# (PostgreSQL: a CTE fed by the inserted rows) or transaction (SQLite); without it nothing
# changes on the paths above.


def _queueing(statement: str, returning: str, tail: str) -> str:
    """``statement`` with its CTE ``e`` returning what the outbox needs, then the outbox CTE."""
    wanted = " RETURNING " + returning + tail
    if statement.count(wanted) != 1:
        raise RuntimeError("usage statement changed: update the outbox variant")
    return statement.replace(
        wanted,
        " RETURNING id, customer_id, service_name, recorded_at,"
        " quantity_micros, idempotency_key)" + PG_OUTBOX_CTE + tail.removeprefix(")"),
    )


_PG_INSERT_ONE_OUTBOX = _queueing(_PG_INSERT_ONE, "customer_id, service_name, quantity_micros", ")")
_PG_MERGE_OUTBOX = _queueing(
    _PG_MERGE, "customer_id, service_name, recorded_at, quantity_micros", "),"
)


def _sqlite_queue(raw: Any, events: Sequence[NewUsage]) -> None:
    raw.executemany(
        SQLITE_OUTBOX_FROM_RECORD,
        [(outbox_identifier(e.customer_id, e.idempotency_key), e.idempotency_key) for e in events],
    )


def _sqlite_time(moment: datetime) -> str:
    """The text SQLAlchemy's SQLite DateTime writes (naive UTC), so both paths agree."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(" ", "microseconds")[:26]


def _metadata_json(event: NewUsage) -> str:
    return event.metadata_json or json.dumps(event.metadata)


def _driver_error(
    conn: Connection, error: Exception, statement: str, events: Sequence[NewUsage]
) -> Exception:
    """A driver error as the SQLAlchemy error Database.write() translates; an unknown customer
    (a foreign key violation) as NotFound."""
    if _is_foreign_key_error(error):
        ids = sorted({event.customer_id for event in events})
        return NotFound(f"Customer not found: {', '.join(ids)}")
    return exc.DBAPIError.instance(statement, None, error, _dbapi_error(conn))


def record_one(db: Database, event: NewUsage, *, now: datetime, queue_outbox: bool = False) -> bool:
    """Store one event and its rollup as one transaction of its own, on the fastest path:
    PostgreSQL runs the single CTE statement in autocommit (one round trip, atomic), SQLite
    ``BEGIN IMMEDIATE``, two prepared statements, ``COMMIT``. False if the key was seen."""
    try:
        with db.hot_cursor() as cursor:
            if db.dialect == "postgresql":
                cursor.execute(
                    _PG_INSERT_ONE_OUTBOX if queue_outbox else _PG_INSERT_ONE,
                    _pg_params(event, now),
                )
                return cursor.fetchone() is not None
            cursor.execute("BEGIN IMMEDIATE")
            try:
                new = _sqlite_insert_one(cursor, event, now)
                if new and queue_outbox:
                    _sqlite_queue(cursor, [event])
                cursor.execute("COMMIT")
                return new
            except BaseException:
                if cursor.connection.in_transaction:
                    cursor.execute("ROLLBACK")
                raise
    except db.driver_error as error:
        if _is_foreign_key_error(error):
            raise NotFound(f"Customer not found: {event.customer_id}") from None
        db.raise_driver_error(error)


def _pg_params(event: NewUsage, now: datetime) -> tuple[Any, ...]:
    return (
        event.customer_id,
        event.service,
        event.quantity,
        _metadata_json(event),
        event.recorded_at,
        event.quantity_micros,
        event.idempotency_key,
        now,
        event.day,
    )


def _sqlite_insert_one(cursor: Any, event: NewUsage, now: datetime) -> bool:
    recorded = _sqlite_time(event.recorded_at)
    ingested = recorded if event.recorded_at is now else _sqlite_time(now)
    micros = event.quantity_micros
    if (
        cursor.execute(
            _SQLITE_INSERT,
            (
                event.customer_id,
                event.service,
                str(event.quantity),
                _metadata_json(event),
                recorded,
                micros,
                event.idempotency_key,
                ingested,
            ),
        ).rowcount
        != 1
    ):
        return False
    # the UTC day is the text's date part (_sqlite_time writes UTC)
    cursor.execute(_SQLITE_ROLLUP, (event.customer_id, event.service, recorded[:10], micros, 1))
    return True


def _is_foreign_key_error(error: BaseException) -> bool:
    return getattr(error, "sqlstate", None) == "23503" or "FOREIGN KEY constraint" in str(error)


def insert_event(
    conn: Connection, event: NewUsage, *, now: datetime, queue_outbox: bool = False
) -> bool:
    """Insert one event and its rollup; False (and nothing written) if the key was seen."""
    raw = _raw(conn)
    statement = _PG_INSERT_ONE if conn.dialect.name == "postgresql" else _SQLITE_INSERT
    try:
        if conn.dialect.name == "postgresql":
            with raw.cursor() as cursor:
                cursor.execute(
                    _PG_INSERT_ONE_OUTBOX if queue_outbox else statement, _pg_params(event, now)
                )
                return cursor.fetchone() is not None
        new = _sqlite_insert_one(raw, event, now)
        if new and queue_outbox:
            _sqlite_queue(raw, [event])
        return new
    except _dbapi_error(conn) as error:
        raise _driver_error(conn, error, statement, [event]) from error


def insert_events(
    conn: Connection, events: Sequence[NewUsage], *, now: datetime, queue_outbox: bool = False
) -> int:
    """Insert a batch of events with distinct keys and add the new ones to the rollups (one
    upsert per customer, service and day). Returns how many were new; the others were seen."""
    if not events:
        return 0
    try:
        if conn.dialect.name == "postgresql":
            return _pg_insert_events(conn, events, now=now, queue_outbox=queue_outbox)
        return _sqlite_insert_events(conn, events, now=now, queue_outbox=queue_outbox)
    except _dbapi_error(conn) as error:
        raise _driver_error(conn, error, "usage batch", events) from error


def _sqlite_insert_events(
    conn: Connection, events: Sequence[NewUsage], *, now: datetime, queue_outbox: bool = False
) -> int:
    raw = _raw(conn)
    ingested = _sqlite_time(now)
    rows = []
    last_moment, last_text = now, ingested  # events without a time share one moment
    for e in events:
        if e.recorded_at is not last_moment:
            last_moment, last_text = e.recorded_at, _sqlite_time(e.recorded_at)
        rows.append(
            (
                e.customer_id,
                e.service,
                str(e.quantity),
                e.metadata_json or json.dumps(e.metadata),
                last_text,
                e.quantity_micros,
                e.idempotency_key,
                ingested,
            )
        )
    raw.execute("SAVEPOINT usage_batch")
    before = raw.total_changes
    raw.executemany(_SQLITE_INSERT, rows)
    fresh: Sequence[NewUsage] = events
    if raw.total_changes - before != len(rows):
        # some keys were seen before: redo the batch knowing which (we hold the write lock,
        # so nobody else can insert meanwhile)
        raw.execute("ROLLBACK TO usage_batch")
        seen = _sqlite_seen_keys(raw, [e.idempotency_key for e in events])
        keep = [i for i, e in enumerate(events) if e.idempotency_key not in seen]
        fresh = [events[i] for i in keep]
        rows = [rows[i] for i in keep]
        raw.executemany(_SQLITE_INSERT, rows)
    raw.execute("RELEASE usage_batch")
    if queue_outbox:
        _sqlite_queue(raw, fresh)
    raw.executemany(_SQLITE_ROLLUP, _sqlite_per_day(rows))
    return len(fresh)


def _sqlite_per_day(rows: list[tuple[Any, ...]]) -> list[tuple[str, str, str, int, int]]:
    """Rollup rows (customer, service, UTC day, micros, events) of insert rows, in key order
    (the day is the date part of the stored UTC text)."""
    totals: dict[tuple[str, str, str], list[int]] = {}
    for customer, service, _, _, recorded, micros, *_ in rows:
        key = (customer, service, recorded[:10])
        total = totals.get(key)
        if total is None:
            totals[key] = [micros, 1]
        else:
            total[0] += micros
            total[1] += 1
    return [(*key, micros, count) for key, (micros, count) in sorted(totals.items())]


def _sqlite_seen_keys(raw: Any, keys: list[str]) -> set[str]:
    seen: set[str] = set()
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        marks = ", ".join("?" * len(chunk))
        seen.update(
            row[0]
            for row in raw.execute(
                # only placeholders are formatted in; the keys are bound
                "SELECT idempotency_key FROM billing_usage_records"  # noqa: S608
                f" WHERE idempotency_key IN ({marks})",
                chunk,
            )
        )
    return seen


def _pg_insert_events(
    conn: Connection, events: Sequence[NewUsage], *, now: datetime, queue_outbox: bool = False
) -> int:
    raw = _raw(conn)
    with raw.cursor() as cursor:
        cursor.execute(_PG_STAGING)
        with cursor.copy(_PG_COPY) as copy:
            copy.set_types(list(_PG_COPY_TYPES))
            for e in events:
                copy.write_row(
                    (
                        e.customer_id,
                        e.service,
                        _metadata_json(e),
                        e.recorded_at,
                        e.quantity_micros,
                        e.idempotency_key,
                    )
                )
        cursor.execute(_PG_MERGE_OUTBOX if queue_outbox else _PG_MERGE, (now,))
        row = cursor.fetchone()
        cursor.execute("TRUNCATE billing_usage_staging")
    return int(row[0]) if row else 0


def existing_customers(conn: Connection, customer_ids: Iterable[str]) -> set[str]:
    wanted = sorted(set(customer_ids))
    found: set[str] = set()
    for i in range(0, len(wanted), 500):
        query = select(customers.c.customer_id).where(
            customers.c.customer_id.in_(wanted[i : i + 500])
        )
        found.update(conn.execute(query).scalars())
    return found


def add_to_rollup(
    conn: Connection, customer_id: str, service: str, day: date, micros: int, events: int
) -> None:
    statement = _insert(conn)(usage_daily).values(
        customer_id=customer_id,
        service_name=service,
        day=day,
        quantity_micros=micros,
        events=events,
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["customer_id", "service_name", "day"],
            set_={
                "quantity_micros": usage_daily.c.quantity_micros
                + statement.excluded.quantity_micros,
                "events": usage_daily.c.events + statement.excluded.events,
            },
        )
    )


@dataclass(frozen=True)
class UsageTotal:
    service: str
    quantity: Decimal
    events: int


def period_totals(
    conn: Connection,
    customer_id: str,
    first_day: date,
    end_day: date,
    services: Iterable[str] | None = None,
) -> dict[str, UsageTotal]:
    """Usage per service over whole UTC days ``first_day`` <= day < ``end_day``, from the
    rollups (never the raw events)."""
    query = (
        select(
            usage_daily.c.service_name,
            func.sum(usage_daily.c.quantity_micros),
            func.sum(usage_daily.c.events),
        )
        .where(
            usage_daily.c.customer_id == customer_id,
            usage_daily.c.day >= first_day,
            usage_daily.c.day < end_day,
        )
        .group_by(usage_daily.c.service_name)
    )
    if services is not None:
        query = query.where(usage_daily.c.service_name.in_(list(services)))
    return {
        service: UsageTotal(service, from_micros(int(micros or 0)), int(events or 0))
        for service, micros, events in conn.execute(query)
    }


@dataclass(frozen=True)
class DailyTotal:
    day: date
    service: str
    quantity: Decimal
    events: int


def daily_totals(
    conn: Connection,
    customer_id: str,
    first_day: date,
    end_day: date,
    services: Iterable[str] | None = None,
) -> list[DailyTotal]:
    """Per-day, per-service usage over ``first_day`` <= day < ``end_day`` (from the rollups)."""
    query = (
        select(
            usage_daily.c.day,
            usage_daily.c.service_name,
            usage_daily.c.quantity_micros,
            usage_daily.c.events,
        )
        .where(
            usage_daily.c.customer_id == customer_id,
            usage_daily.c.day >= first_day,
            usage_daily.c.day < end_day,
        )
        .order_by(usage_daily.c.day, usage_daily.c.service_name)
    )
    if services is not None:
        query = query.where(usage_daily.c.service_name.in_(list(services)))
    return [
        DailyTotal(day, service, from_micros(int(micros)), int(events))
        for day, service, micros, events in conn.execute(query)
    ]
