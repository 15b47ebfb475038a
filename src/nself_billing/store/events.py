"""The one write path of usage events, and their idempotency, for every entry point.

Every usage event is written here and nowhere else: one at a time (``record_one``: the
library's ``record``, the CLI's ``usage record``), a few at a time as one transaction of their
own (``write_group``: a group of small ``POST /v1/usage`` requests, small ``record_many`` and
``BufferedRecorder`` batches; ``write_group_on_loop``: the same write sent from the HTTP
worker's event loop on PostgreSQL), in batches (``insert_events``: ``record_many``,
``usage import``, large ``POST /v1/usage`` requests), and as the write half of a quota consume
(``sqlite_consume``, ``pg_consume``, and the group commit ``pg_consume_many``; PostgreSQL runs
those as the procedures of migration 0008).

**Identity.** An event is the pair (customer id, client id): the unique constraint
``uq_billing_usage_records_customer_key`` on ``(idempotency_key, customer_id)`` (the key first,
so time-ordered generated keys still append to the index). The same client id from two
customers names two events; a client id is stored as given, never joined to anything. A pair
seen before writes nothing (``ON CONFLICT ... DO NOTHING``), whichever entry point wrote it first.

**Replays of a consume** must repeat what the pair first recorded: the same service and
quantity (the customer is part of the pair). A replay that differs is ``conflict`` (nothing
written; the service answers ``IdempotencyConflict``), never admitted without a check. A
generated key (``check_key`` false) is not looked up.

**Writes**, per event: the raw row, its per-day rollup (customer, service, UTC day) in the same
transaction, and, with ``queue_outbox`` (the Stripe provider), a row of the usage outbox.

- SQLite: ``BEGIN IMMEDIATE``, the insert, the rollup upsert (the outbox row), ``COMMIT`` on a
  lent driver cursor; a batch, or a group of requests, is one ``executemany`` and one upsert
  per (customer, service, day).
- PostgreSQL: one statement for one event (a CTE writes the rollup only if the event is new),
  one statement with the rows as array parameters for up to ``PG_STATEMENT_MAX`` events, COPY
  into a temporary staging table plus one merge statement for a larger batch, one ``CALL`` for
  a consume or a group of consumes.

Statements are built once, parameters always bound. Validation happens before (``domain``):
what reaches this module is a ``NewUsage`` that both backends can store alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, TypeVar

from sqlalchemy import Connection, Engine, exc

from ..errors import NotFound
from .db import billing_error
from .outbox import PG_OUTBOX_CTE, SQLITE_OUTBOX_FROM_RECORD, outbox_identifier

if TYPE_CHECKING:
    from .db import Database
    from .hot_path import UsageReader

_T = TypeVar("_T")


class NewUsage(NamedTuple):
    """A validated event, ready to store (a NamedTuple: batches make millions of them)."""

    customer_id: str
    service: str
    quantity: Decimal
    quantity_micros: int
    metadata: dict[str, Any]
    recorded_at: datetime
    #: the client's id (or a generated one): unique per customer, stored as given
    idempotency_key: str
    #: ``metadata`` already serialized (saves a second json.dumps on the hot path)
    metadata_json: str = ""

    @property
    def day(self) -> date:
        """The UTC day whose rollup holds this event."""
        moment = self.recorded_at
        return (moment if moment.tzinfo is UTC else moment.astimezone(UTC)).date()

    @property
    def identity(self) -> tuple[str, str]:
        """What makes two events the same event."""
        return (self.customer_id, self.idempotency_key)


_SQLITE_INSERT = (
    "INSERT INTO billing_usage_records (customer_id, service_name, quantity, metadata,"
    " recorded_at, quantity_micros, idempotency_key, ingested_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key, customer_id) DO NOTHING"
)
_SQLITE_ROLLUP = (
    "INSERT INTO billing_usage_daily (customer_id, service_name, day, quantity_micros, events)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (customer_id, service_name, day) DO UPDATE SET"
    " quantity_micros = quantity_micros + excluded.quantity_micros,"
    " events = events + excluded.events"
)
#: what a pair first recorded (a consume replay is compared with it)
_SQLITE_FIRST = (
    "SELECT service_name, COALESCE(quantity_micros, CAST(round(quantity * 1000000) AS INTEGER))"
    " FROM billing_usage_records WHERE idempotency_key = ? AND customer_id = ?"
)
_SQLITE_TOTAL = (
    "SELECT COALESCE(SUM(quantity_micros), 0) FROM billing_usage_daily"
    " WHERE customer_id = ? AND service_name = ? AND day >= ? AND day < ?"
)

#: one round trip: the event, and its rollup only if the event is new
_PG_INSERT_ONE = (
    "WITH e AS (INSERT INTO billing_usage_records (customer_id, service_name, quantity, metadata,"
    " recorded_at, quantity_micros, idempotency_key, ingested_at)"
    " VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s, %s)"
    " ON CONFLICT (idempotency_key, customer_id) DO NOTHING RETURNING customer_id, service_name,"
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
#: new events (sorted by identity, so concurrent batches with shared events lock in one order
#: and cannot deadlock), then their per-day totals, in one statement; returns how many were new
_PG_MERGE = (
    "WITH e AS (INSERT INTO billing_usage_records (customer_id, service_name, quantity, metadata,"
    " recorded_at, quantity_micros, idempotency_key, ingested_at)"
    " SELECT customer_id, service_name, (quantity_micros::numeric / 1000000)::numeric(20, 6),"
    " metadata::jsonb, recorded_at, quantity_micros, idempotency_key, %s"
    ' FROM billing_usage_staging ORDER BY idempotency_key COLLATE "C", customer_id COLLATE "C"'
    " ON CONFLICT (idempotency_key, customer_id) DO NOTHING"
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

#: a batch of up to this many events is written by one statement (its rows as array
#: parameters), a larger one by COPY into the staging table and the merge. Measured, not
#: guessed: ``benchmarks/bench_cutover.py`` (docs/HTTP.md has the figures).
PG_STATEMENT_MAX = 128
#: a few events in one statement: their rows travel as arrays (bound, never SQL text), new
#: events are inserted in identity order (as the merge does) and added to their rollups, and
#: the identities that were new come back
_PG_SMALL_HEAD = (
    "WITH s AS (SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[],"
    " %s::int8[], %s::text[]) AS s(customer_id, service_name, metadata, recorded_at,"
    " quantity_micros, idempotency_key)),"
    " e AS (INSERT INTO billing_usage_records (customer_id, service_name, quantity, metadata,"
    " recorded_at, quantity_micros, idempotency_key, ingested_at)"
    " SELECT customer_id, service_name, (quantity_micros::numeric / 1000000)::numeric(20, 6),"
    " metadata::jsonb, recorded_at, quantity_micros, idempotency_key, %s FROM s"
    ' ORDER BY idempotency_key COLLATE "C", customer_id COLLATE "C"'
    " ON CONFLICT (idempotency_key, customer_id) DO NOTHING"
    " RETURNING id, customer_id, service_name, recorded_at, quantity_micros, idempotency_key)"
)
_PG_SMALL_TAIL = (
    ", r AS (INSERT INTO billing_usage_daily AS d (customer_id, service_name, day,"
    " quantity_micros, events) SELECT customer_id, service_name,"
    " (recorded_at AT TIME ZONE 'UTC')::date AS day, sum(quantity_micros), count(*) FROM e"
    ' GROUP BY 1, 2, 3 ORDER BY customer_id COLLATE "C", service_name COLLATE "C", 3'
    " ON CONFLICT (customer_id, service_name, day) DO UPDATE SET"
    " quantity_micros = d.quantity_micros + excluded.quantity_micros,"
    " events = d.events + excluded.events)"
    " SELECT customer_id, idempotency_key FROM e"
)
_PG_SMALL = _PG_SMALL_HEAD + _PG_SMALL_TAIL
_PG_SMALL_OUTBOX = _PG_SMALL_HEAD + PG_OUTBOX_CTE + _PG_SMALL_TAIL

#: a group of events with distinct identities, as ``_PG_SMALL`` writes them, by the procedure of
#: migration 0014: committed asynchronously (its rollup rows free at once), then a synchronous
#: commit that waits for the WAL flush covering it; the events travel as one JSON parameter,
#: the new identities come back as ``[[customer id, key], ...]``
_PG_WRITE_GROUP = "CALL billing_usage_write_group(%s::jsonb, %s, %s, NULL)"

# PostgreSQL's consume statements (procedures of migration 0008), prepared once per hot-path
# connection under these names (psycopg names its own ``_pg3_<n>``, so they cannot collide)
PG_CONSUME = (
    b"nself_quota_consume",
    "CALL billing_quota_consume($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
    " $12, $13, $14, $15, $16)",
)
PG_CONSUME_MANY = (
    b"nself_quota_consume_many",
    "CALL billing_quota_consume_many($1, $2, $3, $4, $5, NULL)",
)


def _queueing(statement: str, returning: str, tail: str) -> str:
    """``statement`` with its CTE ``e`` returning what the outbox needs, then the outbox CTE
    (the Stripe usage outbox: each new event queued in the same statement)."""
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


def _sqlite_time(moment: datetime) -> str:
    """The text SQLAlchemy's SQLite DateTime writes (naive UTC), so both paths agree."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(" ", "microseconds")[:26]


def _metadata_json(event: NewUsage) -> str:
    return event.metadata_json or json.dumps(event.metadata)


def _sqlite_queue(raw: Any, events: Sequence[NewUsage]) -> None:
    raw.executemany(
        SQLITE_OUTBOX_FROM_RECORD,
        [
            (outbox_identifier(e.customer_id, e.idempotency_key), e.idempotency_key, e.customer_id)
            for e in events
        ],
    )


def _is_foreign_key_error(error: BaseException) -> bool:
    return getattr(error, "sqlstate", None) == "23503" or "FOREIGN KEY constraint" in str(error)


# -- one event -----------------------------------------------------------------------------


def record_one(db: Database, event: NewUsage, *, now: datetime, queue_outbox: bool = False) -> bool:
    """Store one event and its rollup as one transaction of its own, on the fastest path:
    PostgreSQL runs the single CTE statement in autocommit (one round trip, atomic), SQLite
    ``BEGIN IMMEDIATE``, two prepared statements, ``COMMIT``. False if the pair was seen."""
    try:
        with db.hot_cursor() as cursor:
            if db.dialect == "postgresql":
                cursor.execute(
                    _PG_INSERT_ONE_OUTBOX if queue_outbox else _PG_INSERT_ONE,
                    _pg_params(event, now),
                )
                return cursor.fetchone() is not None
            return _sqlite_immediate(
                cursor, lambda: _sqlite_write(cursor, event, now, queue_outbox)
            )
    except db.driver_error as error:
        if _is_foreign_key_error(error):
            raise NotFound(f"Customer not found: {event.customer_id}") from None
        db.raise_driver_error(error)


def _sqlite_immediate(cursor: Any, write: Callable[[], _T]) -> _T:
    """``write`` as one SQLite write transaction of its own: ``BEGIN IMMEDIATE`` (the one
    writer until ``COMMIT``), rolled back if it raises."""
    cursor.execute("BEGIN IMMEDIATE")
    try:
        result = write()
        cursor.execute("COMMIT")
        return result
    except BaseException:
        if cursor.connection.in_transaction:
            cursor.execute("ROLLBACK")
        raise


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


def _sqlite_write(cursor: Any, event: NewUsage, now: datetime, queue_outbox: bool) -> bool:
    """The event, its rollup and (``queue_outbox``) its outbox row, inside the caller's
    SQLite transaction; False (nothing written) if the pair was seen."""
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
    if queue_outbox:
        _sqlite_queue(cursor, [event])
    # the UTC day is the text's date part (_sqlite_time writes UTC)
    cursor.execute(_SQLITE_ROLLUP, (event.customer_id, event.service, recorded[:10], micros, 1))
    return True


# -- batches --------------------------------------------------------------------------------


def _raw(conn: Connection) -> Any:
    """The driver's own connection (sqlite3 or psycopg) under a SQLAlchemy connection."""
    return conn.connection.driver_connection


def _dbapi_error(bind: Connection | Engine) -> type[Exception]:
    error: type[Exception] = bind.dialect.dbapi.Error  # type: ignore[union-attr]
    return error


def insert_events(
    conn: Connection, events: Sequence[NewUsage], *, now: datetime, queue_outbox: bool = False
) -> int:
    """Insert a batch of events with distinct identities, in the caller's transaction, and add
    the new ones to the rollups (one upsert per customer, service and day). Returns how many
    were new; the others were seen."""
    if not events:
        return 0
    try:
        if conn.dialect.name == "postgresql":
            return _pg_insert_events(conn, events, now=now, queue_outbox=queue_outbox)
        return _sqlite_insert_events(conn, events, now=now, queue_outbox=queue_outbox)
    except _dbapi_error(conn) as error:
        if _is_foreign_key_error(error):
            ids = sorted({event.customer_id for event in events})
            raise NotFound(f"Customer not found: {', '.join(ids)}") from None
        raise exc.DBAPIError.instance("usage batch", None, error, _dbapi_error(conn)) from error


def _sqlite_insert_events(
    conn: Connection, events: Sequence[NewUsage], *, now: datetime, queue_outbox: bool = False
) -> int:
    return len(_sqlite_insert_new(_raw(conn), events, now, queue_outbox))


def _sqlite_insert_new(
    raw: Any, events: Sequence[NewUsage], now: datetime, queue_outbox: bool
) -> Sequence[NewUsage]:
    """Events with distinct identities, their rollups (one upsert per customer, service and
    day) and (``queue_outbox``) their outbox rows, inside the caller's SQLite write
    transaction on the driver's connection ``raw``: the events that were new."""
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
    fresh: Sequence[NewUsage] = events
    if len(rows) == 1:
        # one event: its insert tells by itself whether it was new (nothing to redo)
        if raw.execute(_SQLITE_INSERT, rows[0]).rowcount != 1:
            return []
    else:
        raw.execute("SAVEPOINT usage_batch")
        before = raw.total_changes
        raw.executemany(_SQLITE_INSERT, rows)
        if raw.total_changes - before != len(rows):
            # some events were seen before: redo the batch knowing which (we hold the write
            # lock, so nobody else can insert meanwhile)
            raw.execute("ROLLBACK TO usage_batch")
            seen = _sqlite_seen(raw, events)
            keep = [i for i, e in enumerate(events) if e.identity not in seen]
            fresh = [events[i] for i in keep]
            rows = [rows[i] for i in keep]
            raw.executemany(_SQLITE_INSERT, rows)
        raw.execute("RELEASE usage_batch")
    if queue_outbox:
        _sqlite_queue(raw, fresh)
    raw.executemany(_SQLITE_ROLLUP, _sqlite_per_day(rows))
    return fresh


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


def _sqlite_seen(raw: Any, events: Sequence[NewUsage]) -> set[tuple[str, str]]:
    """The identities among ``events`` already stored."""
    keys = sorted({e.idempotency_key for e in events})
    wanted = {e.identity for e in events}
    seen: set[tuple[str, str]] = set()
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        marks = ", ".join("?" * len(chunk))
        seen.update(
            (customer, key)
            for customer, key in raw.execute(
                # only placeholders are formatted in; the keys are bound
                "SELECT customer_id, idempotency_key FROM billing_usage_records"  # noqa: S608
                f" WHERE idempotency_key IN ({marks})",
                chunk,
            )
            if (customer, key) in wanted
        )
    return seen


def _pg_insert_events(
    conn: Connection, events: Sequence[NewUsage], *, now: datetime, queue_outbox: bool = False
) -> int:
    raw = _raw(conn)
    with raw.cursor() as cursor:
        if len(events) <= PG_STATEMENT_MAX:
            return len(_pg_small(cursor, events, now, queue_outbox))
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


def _pg_small(
    cursor: Any, events: Sequence[NewUsage], now: datetime, queue_outbox: bool
) -> set[tuple[str, str]]:
    """``events`` (distinct identities) by one statement; the identities that were new."""
    cursor.execute(
        _PG_SMALL_OUTBOX if queue_outbox else _PG_SMALL,
        (
            [e.customer_id for e in events],
            [e.service for e in events],
            [_metadata_json(e) for e in events],
            [e.recorded_at for e in events],
            [e.quantity_micros for e in events],
            [e.idempotency_key for e in events],
            now,
        ),
    )
    return {(customer, key) for customer, key in cursor.fetchall()}


def write_group(
    db: Database, events: Sequence[NewUsage], *, now: datetime, queue_outbox: bool = False
) -> set[tuple[str, str]]:
    """Store a few events with distinct identities (the events of one request, or of a group
    of requests) as one transaction of their own, on the single-event path: PostgreSQL one
    ``CALL billing_usage_write_group`` (migration 0014: the array statement, committed before
    the WAL flush so the group's rollup rows are free for the next group during it, answered
    after the flush), SQLite ``BEGIN IMMEDIATE``, the batch's statements (``executemany`` of
    the rows, one rollup upsert per customer, service and day), ``COMMIT``. Returns the
    identities that were new; raises ``NotFound`` (nothing written) if an event's customer does
    not exist. (``write_group_on_loop``: the same write on PostgreSQL from the event loop.)"""
    if not events:
        return set()
    try:
        with db.hot_cursor() as cursor:
            if db.dialect == "postgresql":
                cursor.execute(_PG_WRITE_GROUP, _pg_group_params(events, now, queue_outbox))
                (new,) = cursor.fetchone()
                return {(customer, key) for customer, key in new}
            return _sqlite_immediate(
                cursor,
                lambda: {
                    e.identity
                    for e in _sqlite_insert_new(cursor.connection, events, now, queue_outbox)
                },
            )
    except db.driver_error as error:
        _raise_group_error(db, events, error)


async def write_group_on_loop(
    db: Database, events: Sequence[NewUsage], *, now: datetime, queue_outbox: bool = False
) -> set[tuple[str, str]]:
    """``write_group`` on PostgreSQL, sent by the running event loop on one of its own
    connections (``db.loop_connections()``) instead of a thread's: the same ``CALL``, the same
    parameters, answers and errors."""
    if not events:
        return set()
    try:
        async with db.loop_connections().cursor() as cursor:
            await cursor.execute(_PG_WRITE_GROUP, _pg_group_params(events, now, queue_outbox))
            (new,) = await cursor.fetchone()
    except db.driver_error as error:
        _raise_group_error(db, events, error)
    return {(customer, key) for customer, key in new}


def _pg_group_params(
    events: Sequence[NewUsage], now: datetime, queue_outbox: bool
) -> tuple[str, datetime, bool]:
    """The parameters of ``_PG_WRITE_GROUP``: the group as one JSON parameter (one dump, not
    six arrays to adapt), the moment, whether to queue outbox rows."""
    group = [
        [
            e.customer_id,
            e.service,
            _metadata_json(e),
            e.recorded_at.isoformat(),
            e.quantity_micros,
            e.idempotency_key,
        ]
        for e in events
    ]
    return (json.dumps(group), now, queue_outbox)


def _raise_group_error(db: Database, events: Sequence[NewUsage], error: Exception) -> NoReturn:
    if _is_foreign_key_error(error):
        ids = sorted({event.customer_id for event in events})
        raise NotFound(f"Customer not found: {', '.join(ids)}") from None
    db.raise_driver_error(error)


# -- consume: the checked write of a quota ---------------------------------------------------


@dataclass(frozen=True)
class ConsumeRow:
    #: the period's usage before this request (0 when unlimited: not read)
    used_micros: int
    #: the pair was recorded before with the same service and quantity: nothing written
    replayed: bool
    inserted: bool
    #: the pair was recorded before with another service or quantity: nothing written
    conflict: bool = False


_BOOL = {True: "t", False: "f"}


def sqlite_consume(
    reader: UsageReader,
    *,
    customer_id: str,
    service: str,
    quantity: Decimal,
    micros: int,
    metadata: dict[str, Any],
    recorded_at: datetime,
    key: str,
    now: datetime,
    first_day: date,
    end_day: date,
    limit_micros: int | None,
    hard: bool,
    check_key: bool,
    queue_outbox: bool = False,
    metadata_json: str = "",
) -> ConsumeRow:
    """Consume on SQLite: ``BEGIN IMMEDIATE`` (the one writer until ``COMMIT``), the replay
    check, the period's usage, and the event written by ``_sqlite_write`` (as every other
    event) if it fits."""
    event = NewUsage(
        customer_id, service, quantity, micros, metadata, recorded_at, key, metadata_json
    )
    used = 0
    try:
        with reader.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if check_key:
                    first = conn.execute(_SQLITE_FIRST, (key, customer_id)).fetchone()
                    if first is not None:
                        conn.execute("COMMIT")
                        return _replay(first[0], first[1], service, micros)
                if limit_micros is not None:
                    used = int(
                        conn.execute(
                            _SQLITE_TOTAL,
                            (customer_id, service, first_day.isoformat(), end_day.isoformat()),
                        ).fetchone()[0]
                    )
                inserted = False
                if not hard or limit_micros is None or used + micros <= limit_micros:
                    inserted = _sqlite_write(conn, event, now, queue_outbox)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
    except Exception as error:
        raise billing_error(error) from error
    return ConsumeRow(
        used,
        not inserted and not (hard and limit_micros is not None and used + micros > limit_micros),
        inserted,
    )


def _replay(first_service: str, first_micros: int | None, service: str, micros: int) -> ConsumeRow:
    same = first_service == service and first_micros == micros
    return ConsumeRow(0, same, False, not same)


def pg_consume(
    reader: UsageReader,
    *,
    customer_id: str,
    service: str,
    quantity: Decimal,
    micros: int,
    metadata: dict[str, Any],
    recorded_at: datetime,
    key: str,
    now: datetime,
    first_day: date,
    end_day: date,
    limit_micros: int | None,
    hard: bool,
    durable: bool,
    check_key: bool = True,
    queue_outbox: bool = False,
    metadata_json: str = "",
) -> ConsumeRow:
    """Consume on PostgreSQL: one round trip, ``CALL billing_quota_consume`` (migration 0008),
    which holds the per-(customer, service) lock only while the server runs it, never across
    a network round trip.

    That transaction commits asynchronously, so the lock is released without waiting for the
    WAL flush; when ``durable``, the procedure then commits a transactional logical message
    synchronously (outside the lock, group-committed with the other callers), which flushes the
    WAL up to and past this event before the caller hears "admitted". A server crash before
    that flush loses the event and the caller gets an error, never an unrecorded admit; a lost
    event can only make others under-admit. ``check_key`` False skips the lookup of a replayed
    key: for a key the caller just generated."""
    used, replayed, inserted, conflict = reader.pg_row(
        PG_CONSUME,
        [
            customer_id,
            service,
            str(quantity),
            str(micros),
            metadata_json or json.dumps(metadata),
            recorded_at.isoformat(),
            key,
            now.isoformat(),
            first_day.isoformat(),
            end_day.isoformat(),
            recorded_at.astimezone(UTC).date().isoformat(),
            None if limit_micros is None else str(limit_micros),
            _BOOL[hard],
            _BOOL[queue_outbox],
            _BOOL[check_key],
            _BOOL[durable],
        ],
    )
    return ConsumeRow(int(used), replayed == b"t", inserted == b"t", conflict == b"t")


def pg_consume_many(
    reader: UsageReader,
    events: Sequence[dict[str, Any]],
    *,
    now: datetime,
    queue_outbox: bool,
    durable: bool,
) -> list[ConsumeRow]:
    """Consume a group of requests on PostgreSQL in one transaction and one round trip,
    ``CALL billing_quota_consume_many`` (migration 0008): each admitted, refused or found a
    replay (or a conflict) exactly as ``pg_consume`` one after the other, in order, with one
    lock round, one commit and (when ``durable``) one WAL flush for the group. Each event has
    ``pg_consume``'s keywords (``recorded_at`` and ``now`` are the group's ``now``). The group
    travels as one JSON parameter, never as SQL text."""
    group = [
        {
            "c": e["customer_id"],
            "s": e["service"],
            "q": str(e["quantity"]),
            "m": e["micros"],
            "md": e["metadata"],
            "k": e["key"],
            "ck": e.get("check_key", True),
            "f": e["first_day"].isoformat(),
            "e": e["end_day"].isoformat(),
            "l": e["limit_micros"],
            "h": e["hard"],
        }
        for e in events
    ]
    (results,) = reader.pg_row(
        PG_CONSUME_MANY,
        [
            json.dumps(group),
            now.isoformat(),
            now.astimezone(UTC).date().isoformat(),
            _BOOL[queue_outbox],
            _BOOL[durable],
        ],
    )
    return [
        ConsumeRow(int(used), bool(replayed), bool(inserted), bool(conflict))
        for used, replayed, inserted, conflict in json.loads(results)
    ]
