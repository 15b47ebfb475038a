"""Queries for quota enforcement: per-customer overrides, alert records, the period total of one
service from the per-day rollups, and the PostgreSQL per-(customer, service) lock."""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, event, func, select

from ..errors import DatabaseError
from .db import _first_line
from .tables import quota_alerts, quota_overrides, usage_daily, usage_records
from .usage import _insert


@dataclass(frozen=True)
class Override:
    customer_id: str
    service: str
    #: None means unlimited for this customer
    limit: Decimal | None
    mode: str | None
    overage_price: Decimal | None


@dataclass(frozen=True)
class AlertRecord:
    customer_id: str
    service: str
    threshold: int
    period_start: datetime
    usage: Decimal
    limit: Decimal
    created_at: datetime | None


def overrides_for(conn: Connection, customer_id: str) -> dict[str, Override]:
    rows = conn.execute(select(quota_overrides)
                        .where(quota_overrides.c.customer_id == customer_id))
    return {
        row.service_name: Override(
            row.customer_id, row.service_name,
            None if row.limit_value is None else Decimal(row.limit_value),
            row.enforcement_mode,
            None if row.overage_price is None else Decimal(row.overage_price))
        for row in rows
    }


def set_override(conn: Connection, override: Override, *, now: datetime) -> None:
    statement = _insert(conn)(quota_overrides).values(
        customer_id=override.customer_id, service_name=override.service,
        limit_value=override.limit, enforcement_mode=override.mode,
        overage_price=override.overage_price, created_at=now)
    conn.execute(statement.on_conflict_do_update(
        index_elements=["customer_id", "service_name"],
        set_={"limit_value": statement.excluded.limit_value,
              "enforcement_mode": statement.excluded.enforcement_mode,
              "overage_price": statement.excluded.overage_price,
              "created_at": statement.excluded.created_at},
    ))


def clear_override(conn: Connection, customer_id: str, service: str) -> bool:
    result = conn.execute(delete(quota_overrides).where(
        quota_overrides.c.customer_id == customer_id,
        quota_overrides.c.service_name == service))
    return bool(result.rowcount)


_SERVICE_TOTAL = (
    select(func.coalesce(func.sum(usage_daily.c.quantity_micros), 0))
    .where(usage_daily.c.customer_id == bindparam("customer_id"),
           usage_daily.c.service_name == bindparam("service"),
           usage_daily.c.day >= bindparam("first_day"),
           usage_daily.c.day < bindparam("end_day"))
)


def service_total_micros(conn: Connection, customer_id: str, service: str, first_day: date,
                         end_day: date) -> int:
    """One service's usage (micro-units) over whole UTC days [first_day, end_day), read from
    the rollups' primary key (customer, service, day): an index range, never raw events."""
    return int(conn.execute(_SERVICE_TOTAL, {"customer_id": customer_id, "service": service,
                                             "first_day": first_day, "end_day": end_day}
                            ).scalar_one())


def lock_customer_service(conn: Connection, customer_id: str, service: str) -> None:
    """Serialize quota consumption per (customer, service) until the transaction ends.

    PostgreSQL: a transaction-level advisory lock on a hash of the pair (a collision only makes
    two pairs queue behind each other). SQLite needs nothing: the write transaction was opened
    with BEGIN IMMEDIATE, which already admits one writer at a time."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(
            func.hashtext(bindparam("lock_key")))), {"lock_key": f"{customer_id}:{service}"})


def key_exists(conn: Connection, idempotency_key: str) -> bool:
    return conn.execute(select(usage_records.c.id)
                        .where(usage_records.c.idempotency_key == idempotency_key)
                        .limit(1)).first() is not None


def record_alert(conn: Connection, alert: AlertRecord, *, now: datetime) -> bool:
    """Record one alert; False if this customer, service, threshold and period had one."""
    inserted = conn.execute(
        _insert(conn)(quota_alerts).values(
            customer_id=alert.customer_id, service_name=alert.service,
            threshold=alert.threshold, period_start=alert.period_start, usage=alert.usage,
            limit_value=alert.limit, created_at=now)
        .on_conflict_do_nothing(
            index_elements=["customer_id", "service_name", "threshold", "period_start"])
        .returning(quota_alerts.c.id)
    ).first()
    return inserted is not None


def alerts_for(conn: Connection, customer_id: str, period_start: datetime) -> list[AlertRecord]:
    rows = conn.execute(
        select(quota_alerts)
        .where(quota_alerts.c.customer_id == customer_id,
               quota_alerts.c.period_start == period_start)
        .order_by(quota_alerts.c.service_name, quota_alerts.c.threshold))
    return [AlertRecord(row.customer_id, row.service_name, row.threshold, row.period_start,
                        Decimal(row.usage), Decimal(row.limit_value), row.created_at)
            for row in rows]


_TOTAL_SQL = ("SELECT COALESCE(SUM(quantity_micros), 0) FROM billing_usage_daily"
              " WHERE customer_id = {p} AND service_name = {p} AND day >= {p} AND day < {p}")


class UsageReader:
    """The quota check's one read, on a dedicated driver connection per thread.

    ``enforce`` and ``check`` sit in front of every request of a tenant's API, so their read
    skips the pool checkout and the explicit BEGIN/COMMIT of ``Database.read()``: each thread
    keeps one connection, detached from the pool, in autocommit mode (one statement is its own
    consistent read), and on PostgreSQL the statement is prepared once. The connections are
    closed when the engine is disposed (``Billing.close()``), and are never shared across a
    fork."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgresql = engine.dialect.name == "postgresql"
        self._sql = _TOTAL_SQL.format(p="%s" if self._postgresql else "?")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[Any] = []
        event.listen(engine, "engine_disposed", lambda *_: self.close())

    def _connection(self) -> Any:
        conn: Any = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        proxy = self._engine.raw_connection()
        conn = proxy.driver_connection
        proxy.detach()
        if self._postgresql:
            conn.autocommit = True
        self._local.conn, self._local.pid = conn, os.getpid()
        with self._lock:
            self._open.append(conn)
        return conn

    def total_micros(self, customer_id: str, service: str, first_day: date,
                     end_day: date) -> int:
        try:
            conn = self._connection()
            if self._postgresql:
                row = conn.execute(self._sql, (customer_id, service, first_day, end_day),
                                   prepare=True).fetchone()
            else:
                row = conn.execute(self._sql, (customer_id, service, first_day.isoformat(),
                                               end_day.isoformat())).fetchone()
        except Exception as error:
            self._discard()
            raise DatabaseError(f"Database error: {_first_line(error)}") from error
        return int(row[0])

    def _discard(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock, contextlib.suppress(ValueError):
                self._open.remove(conn)
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        with self._lock:
            connections, self._open = self._open, []
        for conn in connections:
            with contextlib.suppress(Exception):
                conn.close()
        self._local = threading.local()


#: PostgreSQL's consume in one statement, after the lock: read the period's usage (a fresh
#: READ COMMITTED snapshot, taken after the lock was granted), skip a replayed key, insert the
#: event only if it fits (or the limit is soft), and add it to its rollup. It writes exactly the
#: columns ``store.usage.insert_event`` writes (tests/store/test_quota_consume_parity.py).
_PG_CONSUME = """
WITH used AS (
    SELECT COALESCE(SUM(quantity_micros), 0) AS micros FROM billing_usage_daily
    WHERE customer_id = %(customer_id)s AND service_name = %(service)s
      AND day >= %(first_day)s AND day < %(end_day)s
), seen AS (
    SELECT EXISTS (SELECT 1 FROM billing_usage_records
                   WHERE idempotency_key = %(key)s) AS replayed
), event AS (
    INSERT INTO billing_usage_records (customer_id, service_name, quantity, quantity_micros,
                                       metadata, recorded_at, idempotency_key, ingested_at)
    SELECT %(customer_id)s, %(service)s, %(quantity)s, %(micros)s, %(metadata)s,
           %(recorded_at)s, %(key)s, %(now)s
    FROM used, seen
    WHERE NOT seen.replayed AND (NOT %(hard)s OR used.micros + %(micros)s <= %(limit)s)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING quantity_micros
), rollup AS (
    INSERT INTO billing_usage_daily (customer_id, service_name, day, quantity_micros, events)
    SELECT %(customer_id)s, %(service)s, %(day)s, quantity_micros, 1 FROM event
    ON CONFLICT (customer_id, service_name, day) DO UPDATE
    SET quantity_micros = billing_usage_daily.quantity_micros + excluded.quantity_micros,
        events = billing_usage_daily.events + excluded.events
)
SELECT used.micros, seen.replayed, (SELECT COUNT(*) FROM event) FROM used, seen
"""


@dataclass(frozen=True)
class ConsumeRow:
    used_micros: int
    replayed: bool
    inserted: bool


def pg_consume(reader: UsageReader, *, customer_id: str, service: str, quantity: Decimal,
               micros: int, metadata: dict[str, Any], recorded_at: datetime, key: str,
               now: datetime, first_day: date, end_day: date, limit_micros: int | None,
               hard: bool, durable: bool) -> ConsumeRow:
    """Consume on PostgreSQL in one round trip (a pipeline), holding the lock only while the
    server runs the statement.

    The transaction commits asynchronously, so the lock is released without waiting for the WAL
    flush; when ``durable``, a transactional logical message committed synchronously afterwards
    (outside the lock, group-committed with the other callers) flushes the WAL up to and past
    this event before the caller hears "admitted". A server crash before that flush loses the
    event and the caller gets an error, never an unrecorded admit; a lost event can only make
    others under-admit."""
    from psycopg.types.json import Jsonb

    params = {"customer_id": customer_id, "service": service, "quantity": quantity,
              "micros": micros, "metadata": Jsonb(metadata), "recorded_at": recorded_at,
              "key": key, "now": now, "first_day": first_day, "end_day": end_day,
              "day": recorded_at.date(), "hard": hard, "limit": limit_micros or 0}
    conn = reader._connection()
    try:
        # the statements of one pipeline sync form one implicit transaction: the lock taken by
        # the first is held through the second and released at its commit
        with conn.pipeline():
            if limit_micros is None:  # unlimited: nothing to decide, nothing to serialize
                conn.execute("SELECT set_config('synchronous_commit', 'off', true)",
                             prepare=True)
            else:
                conn.execute("SELECT set_config('synchronous_commit', 'off', true),"
                             " pg_advisory_xact_lock(hashtext(%s))",
                             (f"{customer_id}:{service}",), prepare=True)
            cursor = conn.execute(_PG_CONSUME, params, prepare=True)
        used, replayed, inserted = cursor.fetchone()
        if durable and (inserted or replayed):
            conn.execute("SELECT pg_logical_emit_message(true, 'nself_billing', 'consume')",
                         prepare=True)
    except Exception as error:
        reader._discard()
        raise DatabaseError(f"Database error: {_first_line(error)}") from error
    return ConsumeRow(int(used), bool(replayed), bool(inserted))
