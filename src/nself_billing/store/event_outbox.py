"""PostgreSQL's side of the ClickHouse event store: the capture trigger, the outbox of events
not yet shipped, the shipper's state, and the deletion of raw events past the horizon.

The outbox is filled by a trigger rather than by the event write path (store/events.py and
the consume procedures): every way an event reaches ``billing_usage_records`` (single, batch
COPY, consume, consume group, an operator's SQL) is captured in the transaction that inserts
it, without touching those paths. The trigger is statement-level with a transition table and
writes ONE outbox row per statement (per ``CAPTURE_CHUNK`` events of a larger one) holding the
new events' ids as an array: a COPY batch of 10,000 events costs one small extra row, not
10,000 rows and their index entries, and the shipper claims, deletes and joins a batch through
a handful of rows (migration 0015). It exists only while ClickHouse is configured
(``install_capture`` / ``remove_capture``, called by ``migrate`` and on first use).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Connection

from ..domain.subscriptions import LIVE_STATUSES

SHIPPER = "clickhouse"
#: transaction-level advisory lock: shared while a batch is in flight (shipper), exclusive
#: while reconcile reads both sides, so it never sees a batch in ClickHouse and in the outbox
SHIP_LOCK = 0x6E73656C6663  # "nself" + "c"

#: events per outbox row at most (a statement inserting more writes several rows; the
#: function's text says it too)
CAPTURE_CHUNK = 10_000
_CAPTURE_FUNCTION = (
    "CREATE OR REPLACE FUNCTION billing_event_capture() RETURNS trigger"
    " LANGUAGE plpgsql AS $$ BEGIN"
    " INSERT INTO billing_event_outbox (record_ids) SELECT array_agg(id) FROM"
    " (SELECT id, (row_number() OVER () - 1) / 10000 AS chunk FROM billing_new_events) n"
    " GROUP BY chunk ORDER BY chunk;"
    " RETURN NULL; END $$"
)
_CAPTURE_TRIGGER = (
    "CREATE TRIGGER billing_event_capture AFTER INSERT ON billing_usage_records"
    " REFERENCING NEW TABLE AS billing_new_events"
    " FOR EACH STATEMENT EXECUTE FUNCTION billing_event_capture()"
)


def capture_installed(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    found = conn.exec_driver_sql(
        "SELECT 1 FROM pg_trigger WHERE tgname = 'billing_event_capture'"
        " AND tgrelid = 'billing_usage_records'::regclass"
    ).first()
    return found is not None


def install_capture(conn: Connection) -> int:
    """Install the trigger and queue every raw event already stored (a re-install queues
    events that may already be in ClickHouse: the ReplacingMergeTree keeps one copy of each).
    The table lock keeps writers out meanwhile, so no event falls between the two. Returns the
    number of events queued."""
    conn.exec_driver_sql("LOCK TABLE billing_usage_records IN SHARE ROW EXCLUSIVE MODE")
    if capture_installed(conn):
        return 0
    conn.exec_driver_sql(_CAPTURE_FUNCTION)
    conn.exec_driver_sql(_CAPTURE_TRIGGER)
    queued = conn.exec_driver_sql(
        "WITH waiting AS (SELECT unnest(record_ids) AS id FROM billing_event_outbox),"
        " todo AS (SELECT r.id, (row_number() OVER (ORDER BY r.id) - 1) / %s AS chunk"
        " FROM billing_usage_records r WHERE NOT EXISTS (SELECT 1 FROM waiting w"
        " WHERE w.id = r.id)),"
        " q AS (INSERT INTO billing_event_outbox (record_ids)"
        " SELECT array_agg(id ORDER BY id) FROM todo GROUP BY chunk ORDER BY chunk"
        " RETURNING cardinality(record_ids) AS n)"
        " SELECT COALESCE(sum(n), 0) FROM q",
        (CAPTURE_CHUNK,),
    ).scalar()
    return int(queued or 0)


def remove_capture(conn: Connection) -> bool:
    if not capture_installed(conn):
        return False
    conn.exec_driver_sql("DROP TRIGGER billing_event_capture ON billing_usage_records")
    conn.exec_driver_sql("DROP FUNCTION IF EXISTS billing_event_capture()")
    return True


class Claimed(NamedTuple):
    """An outbox row in a batch: its id, how many of its events the batch takes (its first
    ``taken`` ids; fewer than ``size`` only for the batch's last row, whose rest stays), and
    its first event id (what tells the successive parts of a split row apart)."""

    outbox_id: int
    taken: int
    size: int
    first_id: int


def claim_batch(conn: Connection, events: int) -> list[Claimed]:
    """Lock the oldest outbox rows no other shipper holds, ``events`` events' worth (the last
    row split if it holds more). ``batch_csv`` then deletes them in the caller's transaction,
    so they are gone once it commits (after the ClickHouse insert) and back, unlocked, if it
    rolls back or the shipper dies. Two round trips at most: a few rows first (the usual case:
    rows of thousands of events), then as many more as could still be needed."""
    conn.exec_driver_sql("SELECT pg_advisory_xact_lock_shared(%s)", (SHIP_LOCK,))
    sql = (
        "SELECT id, cardinality(record_ids), record_ids[1] FROM billing_event_outbox"
        " WHERE id > %s ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED"
    )
    first = min(events, 16)
    rows = [(int(a), int(b), int(c)) for a, b, c in conn.exec_driver_sql(sql, (0, first)).all()]
    total = sum(row[1] for row in rows)
    if total < events and len(rows) == first:
        more = conn.exec_driver_sql(sql, (rows[-1][0], events - total)).all()
        rows += [(int(a), int(b), int(c)) for a, b, c in more]
    taken: list[Claimed] = []
    total = 0
    for outbox_id, size, first_id in rows:
        if total >= events:
            break  # locked, not taken: released at commit
        take = min(size, events - total)
        taken.append(Claimed(outbox_id, take, size, first_id))
        total += take
    return taken


#: the batch's outbox rows deleted (the part taken of a split row removed from it) and its raw
#: events rendered as CSV in the column order of ClickHouse's table, in one statement run by
#: PostgreSQL (COPY), so no event passes through Python objects on its way. Rows the rollups
#: do not count either (an operator's SQL row without customer, service or time) are left out.
#: ``quantity`` is numeric(20, 6): never more than the 6 places of ClickHouse's Decimal(18, 6);
#: a value too large for it is refused by ClickHouse when it parses the block (``oversized``
#: names the event then).
_BATCH_CSV = (
    "COPY (WITH d AS (DELETE FROM billing_event_outbox WHERE id = ANY(%(whole)s)"
    " RETURNING record_ids),"
    " s AS (SELECT record_ids[1:%(taken)s] AS record_ids FROM billing_event_outbox"
    " WHERE id = %(split)s),"
    " t AS (UPDATE billing_event_outbox SET record_ids = record_ids[%(taken)s + 1:]"
    " WHERE id = %(split)s),"
    " ids AS (SELECT unnest(record_ids) AS id FROM d UNION ALL"
    " SELECT unnest(record_ids) FROM s)"
    " SELECT r.id, r.customer_id, r.service_name,"
    " COALESCE((r.quantity_micros::numeric / 1000000)::numeric(20, 6), r.quantity),"
    " COALESCE(r.metadata::text, ''),"
    " to_char(r.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),"
    " to_char(COALESCE(r.ingested_at, r.recorded_at) AT TIME ZONE 'UTC',"
    " 'YYYY-MM-DD HH24:MI:SS.US'),"
    " COALESCE(r.idempotency_key, '')"
    " FROM ids JOIN billing_usage_records r ON r.id = ids.id WHERE r.customer_id IS NOT NULL"
    " AND r.service_name IS NOT NULL AND r.recorded_at IS NOT NULL)"
    " TO STDOUT (FORMAT csv)"
)


def batch_csv(conn: Connection, claimed: Sequence[Claimed]) -> tuple[bytes, int]:
    """Take the claimed events out of the outbox and return them as CSV bytes, and how many
    rows they are (in the caller's transaction: nothing leaves the outbox unless it commits)."""
    whole = [c.outbox_id for c in claimed if c.taken == c.size]
    split = next((c for c in claimed if c.taken < c.size), None)
    params = {
        "whole": whole,
        "split": split.outbox_id if split else 0,
        "taken": split.taken if split else 0,
    }
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(_BATCH_CSV, params) as copy:
            data = b"".join(copy)
        return data, int(cursor.rowcount)
    finally:
        cursor.close()


def oversized(conn: Connection, outbox_ids: Sequence[int], max_quantity: Decimal) -> int | None:
    """The first event of these outbox rows (whole) whose quantity ClickHouse's Decimal(18, 6)
    cannot hold (asked only when ClickHouse refused a batch, to name the event)."""
    row = conn.exec_driver_sql(
        "SELECT min(r.id) FROM billing_event_outbox o, unnest(o.record_ids) AS u(id)"
        " JOIN billing_usage_records r ON r.id = u.id"
        " WHERE o.id = ANY(%s) AND abs(r.quantity) > %s",
        (list(outbox_ids), max_quantity),
    ).first()
    return int(row[0]) if row is not None and row[0] is not None else None


def _ensure_state(conn: Connection) -> None:
    conn.exec_driver_sql(
        "INSERT INTO billing_event_shipper (name) VALUES (%s) ON CONFLICT (name) DO NOTHING",
        (SHIPPER,),
    )


def record_shipped(conn: Connection, *, events: int, token: str, now: datetime) -> None:
    _ensure_state(conn)
    conn.exec_driver_sql(
        "UPDATE billing_event_shipper SET shipped_events = shipped_events + %s,"
        " shipped_batches = shipped_batches + 1, last_shipped_at = %s, last_batch_token = %s,"
        " last_error = NULL WHERE name = %s",
        (events, now, token, SHIPPER),
    )


def record_error(conn: Connection, *, error: str, now: datetime) -> None:
    _ensure_state(conn)
    conn.exec_driver_sql(
        "UPDATE billing_event_shipper SET last_error = %s, last_error_at = %s WHERE name = %s",
        (error[:2000], now, SHIPPER),
    )


def record_reconcile(conn: Connection, *, differences: int, now: datetime) -> None:
    _ensure_state(conn)
    conn.exec_driver_sql(
        "UPDATE billing_event_shipper SET last_reconcile_at = %s,"
        " last_reconcile_differences = %s WHERE name = %s",
        (now, differences, SHIPPER),
    )


@dataclass(frozen=True)
class ShipperState:
    pending: int
    oldest_pending_at: datetime | None
    shipped_events: int
    shipped_batches: int
    last_shipped_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    last_reconcile_at: datetime | None
    last_reconcile_differences: int | None
    pruned_events: int
    raw_pruned_before: datetime | None
    capture_installed: bool


def state(conn: Connection) -> ShipperState:
    pending, oldest = conn.exec_driver_sql(
        "SELECT COALESCE(sum(cardinality(record_ids)), 0), min(created_at)"
        " FROM billing_event_outbox"
    ).one()
    row: Any = conn.exec_driver_sql(
        "SELECT shipped_events, shipped_batches, last_shipped_at, last_error, last_error_at,"
        " last_reconcile_at, last_reconcile_differences, pruned_events, raw_pruned_before"
        " FROM billing_event_shipper WHERE name = %s",
        (SHIPPER,),
    ).first()
    values = tuple(row) if row is not None else (0, 0, None, None, None, None, None, 0, None)
    return ShipperState(
        pending=int(pending),
        oldest_pending_at=oldest,
        shipped_events=int(values[0]),
        shipped_batches=int(values[1]),
        last_shipped_at=values[2],
        last_error=values[3],
        last_error_at=values[4],
        last_reconcile_at=values[5],
        last_reconcile_differences=values[6],
        pruned_events=int(values[7]),
        raw_pruned_before=values[8],
        capture_installed=capture_installed(conn),
    )


def raw_pruned_before(conn: Connection) -> datetime | None:
    """Raw events recorded before this may be gone from PostgreSQL (None: none deleted).
    Readable on SQLite too (never set there)."""
    row = conn.exec_driver_sql(
        "SELECT raw_pruned_before FROM billing_event_shipper WHERE name = 'clickhouse'"
    ).first()
    if row is None or row[0] is None:
        return None
    value = row[0]
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


#: (customer, service, day) -> (micro-units, events)
DayTotals = dict[tuple[str, str, date], tuple[int, int]]


def pending_day_totals(conn: Connection, customer_ids: Sequence[str] | None = None) -> DayTotals:
    """Per customer, service and day: the events still waiting in the outbox."""
    sql = (
        "SELECT r.customer_id, r.service_name, (r.recorded_at AT TIME ZONE 'UTC')::date,"
        " sum(COALESCE(r.quantity_micros, round(r.quantity * 1000000)::bigint)), count(*)"
        " FROM billing_event_outbox o, unnest(o.record_ids) AS u(id)"
        " JOIN billing_usage_records r ON r.id = u.id"
        " WHERE r.customer_id IS NOT NULL AND r.service_name IS NOT NULL"
    )
    params: tuple[Any, ...] = ()
    if customer_ids is not None:
        sql += " AND r.customer_id = ANY(%s)"
        params = (list(customer_ids),)
    sql += " GROUP BY 1, 2, 3"
    return {(c, s, d): (int(m or 0), int(n)) for c, s, d, m, n in conn.exec_driver_sql(sql, params)}


def rollup_day_totals(conn: Connection, customer_ids: Sequence[str] | None = None) -> DayTotals:
    sql = "SELECT customer_id, service_name, day, quantity_micros, events FROM billing_usage_daily"
    params: tuple[Any, ...] = ()
    if customer_ids is not None:
        sql += " WHERE customer_id = ANY(%s)"
        params = (list(customer_ids),)
    return {(c, s, d): (int(m), int(n)) for c, s, d, m, n in conn.exec_driver_sql(sql, params)}


def lock_for_reconcile(conn: Connection) -> None:
    """Wait for the batches in flight and hold new ones back until the transaction ends."""
    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (SHIP_LOCK,))


_PENDING_ROWS = (
    "SELECT r.id, r.customer_id, r.service_name,"
    " (r.quantity_micros / 1000000)::text || '.' || lpad((r.quantity_micros %% 1000000)::text,"
    " 6, '0'),"
    " to_char(r.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"'),"
    " r.idempotency_key, r.metadata::text"
    " FROM billing_event_outbox o, unnest(o.record_ids) AS u(id)"
    " JOIN billing_usage_records r ON r.id = u.id"
    " WHERE r.customer_id = %s AND r.recorded_at >= %s AND r.recorded_at < %s ORDER BY r.id"
)


def pending_rows(
    conn: Connection, customer_id: str, start: datetime, end: datetime
) -> list[tuple[Any, ...]]:
    """The customer's raw events not in ClickHouse yet, as export rows (id order)."""
    return list(conn.exec_driver_sql(_PENDING_ROWS, (customer_id, start, end)).all())


_PRUNE = (
    "WITH waiting AS (SELECT unnest(record_ids) AS id FROM billing_event_outbox),"
    " doomed AS (SELECT r.id FROM billing_usage_records r"
    " WHERE r.recorded_at < %(cutoff)s"
    " AND NOT EXISTS (SELECT 1 FROM waiting w WHERE w.id = r.id)"
    " AND NOT EXISTS (SELECT 1 FROM billing_subscriptions s WHERE s.customer_id = r.customer_id"
    " AND s.status = ANY(%(live)s) AND s.current_period_start <= r.recorded_at)"
    " ORDER BY r.recorded_at LIMIT %(limit)s)"
    " DELETE FROM billing_usage_records WHERE id IN (SELECT id FROM doomed)"
)


def prune(conn: Connection, *, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` raw events recorded before ``cutoff`` that are in ClickHouse
    (not in the outbox) and whose billing period is closed (no live subscription of their
    customer has a current period that began before them). The rollups keep their totals."""
    deleted = int(
        conn.exec_driver_sql(
            _PRUNE, {"cutoff": cutoff, "live": list(LIVE_STATUSES), "limit": limit}
        ).rowcount
        or 0
    )
    if deleted:
        _ensure_state(conn)
        conn.exec_driver_sql(
            "UPDATE billing_event_shipper SET pruned_events = pruned_events + %s,"
            " raw_pruned_before = GREATEST(COALESCE(raw_pruned_before, %s), %s) WHERE name = %s",
            (deleted, cutoff, cutoff, SHIPPER),
        )
    return deleted
