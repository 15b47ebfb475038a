"""ClickHouse's side of the event store: the raw usage events, through ``clickhouse-connect``.

``BILLING_CLICKHOUSE_URL`` is ``http(s)://user:password@host:8123/database`` for a server, or
``chdb:///path/to/dir[?database=name]`` for the embedded engine (chDB) that the tests use:
the same client, the same SQL, in process. chDB allows one process per data directory.

The table is a ``ReplacingMergeTree`` ordered by (customer_id, service_name, recorded_at,
idempotency_key): a row shipped twice (a retried batch the deduplication token did not catch)
collapses into one when parts merge, and every read that must be exact uses ``FINAL``, which
applies that collapse at read time. Quantities are ``Decimal(18, 6)``: the engine truncates
extra decimals silently, so only values already exact to 6 places reach it (PostgreSQL's
``numeric(20, 6)`` column and the domain's parser guarantee that; ``insert`` checks again).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from ..errors import ConfigError, DatabaseError
from .export import csv_field

TABLE = "usage_events"
#: the largest quantity Decimal(18, 6) holds
MAX_QUANTITY = Decimal("999999999999.999999")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_COLUMNS = (
    "id",
    "customer_id",
    "service_name",
    "quantity",
    "metadata",
    "recorded_at",
    "ingested_at",
    "idempotency_key",
)

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    id UInt64,
    customer_id String,
    service_name LowCardinality(String),
    quantity Decimal(18, 6),
    metadata String CODEC(ZSTD(3)),
    recorded_at DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    ingested_at DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    idempotency_key String,
    shipped_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(recorded_at)
ORDER BY (customer_id, service_name, recorded_at, idempotency_key)
SETTINGS non_replicated_deduplication_window = 100000
"""


def _csv_field(column: str) -> str:
    """SQL rendering one CSV field by RFC 4180 (quoted only when it holds , " CR or LF), the
    way PostgreSQL's COPY does, so exports from both stores are the same bytes.
    (``multiSearchAny`` over the four bytes costs less than a regular expression.)"""
    return (
        f"if(multiSearchAny({column}, [',', '\"', '\\r', '\\n']),"
        f" concat('\"', replaceAll({column}, '\"', '\"\"'), '\"'), {column})"
    )


#: bytes per read of a streamed export
_EXPORT_READ = 16 << 20
#: the export's query settings, in the SQL text (chDB streams a query only without per-call
#: settings): render the line before the sort, in the threads that read and filter the rows,
#: instead of after it in the one stream the sort merges into; blocks of 16,384 rows
_EXPORT_SETTINGS = (
    " SETTINGS query_plan_execute_functions_after_sorting = 0, max_block_size = 16384"
)
#: the backslash escapes of ``FORMAT TabSeparated`` (the engine writes no others)
_TSV_ESCAPES = (
    (b"\\n", b"\n"),
    (b"\\t", b"\t"),
    (b"\\r", b"\r"),
    (b"\\'", b"'"),
    (b"\\b", b"\b"),
    (b"\\f", b"\f"),
    (b"\\0", b"\0"),
)
_QUANTITY_TEXT = "toDecimalString(quantity, 6)"
_TIME_TEXT = "formatDateTime(recorded_at, '%Y-%m-%dT%H:%i:%S.%f+00:00')"
#: one CSV line of a customer's export; ``{customer_field:String}`` is the customer's field and
#: its commas, the same on every line, rendered once (``_bounds``)
_EXPORT_LINE = (
    "concat(toString(id), {customer_field:String}, "
    + ", ',', ".join(
        (
            _csv_field("service_name"),
            _QUANTITY_TEXT,
            _TIME_TEXT,
            _csv_field("idempotency_key"),
            _csv_field("metadata"),
        )
    )
    + ")"
)


def _tsv_unescape(data: bytes) -> bytes:
    """``FORMAT TabSeparated``'s text of a String back to its bytes. Split at the escaped
    backslashes first: every other backslash then starts one of ``_TSV_ESCAPES``."""
    if b"\\" not in data:
        return data
    parts = data.split(b"\\\\")
    for index, part in enumerate(parts):
        if b"\\" in part:
            for escaped, byte in _TSV_ESCAPES:
                part = part.replace(escaped, byte)
            parts[index] = part
    return b"\\".join(parts)


def _tsv_raw(read: Callable[[int], bytes]) -> Iterator[tuple[bytes, int]]:
    """A stream of one String column in ``FORMAT TabSeparated`` as (bytes, lines): the
    strings unescaped, each followed by a newline, in pieces of about ``_EXPORT_READ`` bytes.
    The lines are the newlines of the escaped text (a newline inside a string is ``\\n``
    there), so a CSV field holding newlines counts once. A piece holding a backslash is cut
    after its last newline, so no escape is split between two reads; one without is copied
    as it is."""
    rest = b""
    while chunk := read(_EXPORT_READ):
        if rest:
            chunk, rest = rest + chunk, b""
        if b"\\" in chunk:
            end = chunk.rfind(b"\n") + 1
            if end < len(chunk):
                chunk, rest = chunk[:end], chunk[end:]
            if not chunk:
                continue
            yield _tsv_unescape(chunk), chunk.count(b"\n")
        else:
            yield chunk, chunk.count(b"\n")
    if rest:
        yield _tsv_unescape(rest), rest.count(b"\n")


def _insert_settings(token: str) -> dict[str, Any]:
    """One synchronous block with its deduplication token; on a cluster (a Distributed table,
    docs/SCALING.md) acknowledged only once the shards have it."""
    return {
        "async_insert": 0,
        "insert_deduplicate": 1,
        "insert_deduplication_token": token,
        "insert_distributed_sync": 1,
    }


#: read PostgreSQL's COPY CSV as it is written: by default ClickHouse trims spaces and tabs
#: around an unquoted field (a key ``" "`` or ``"\\t"`` became ``""`` and collapsed with
#: another event's under ``FINAL``) and reads an unquoted ``\\N`` as NULL, that is ``""``
_CSV_AS_POSTGRESQL_WRITES = {
    "input_format_csv_trim_whitespaces": 0,
    "input_format_null_as_default": 0,
    "format_csv_allow_single_quotes": 0,
}


class ClickHouseEvents:
    """One connection to ClickHouse (opened on first use) and the queries of the event store.
    Safe to share between threads: calls are serialized on the one client."""

    def __init__(self, url: str, *, connect_timeout: float = 5.0) -> None:
        parsed = urlparse(url)
        self._scheme = parsed.scheme.lower()
        self._connect_timeout = connect_timeout
        self._password = unquote(parsed.password) if parsed.password else ""
        if self._scheme == "chdb":
            query = parse_qs(parsed.query)
            self.database = query.get("database", ["billing"])[0]
            path = unquote(parsed.netloc + parsed.path)
            self._path = os.path.abspath(path) if path not in ("", "memory") else ":memory:"
        else:
            self.database = unquote(parsed.path.strip("/")) or "default"
            self._host = parsed.hostname or "localhost"
            try:
                self._port = parsed.port or (8443 if self._scheme == "https" else 8123)
            except ValueError:
                raise ConfigError("Invalid BILLING_CLICKHOUSE_URL: bad port") from None
            self._user = unquote(parsed.username) if parsed.username else "default"
        if not _IDENTIFIER.match(self.database):
            raise ConfigError(f"Invalid ClickHouse database name: {self.database}")
        self.table = f"{self.database}.{TABLE}"
        self._client: Any = None
        self._tables_ready = False
        self._lock = threading.RLock()

    @property
    def embedded(self) -> bool:
        return self._scheme == "chdb"

    @property
    def location(self) -> str:
        """Where the events are, without credentials (for doctor and logs)."""
        if self.embedded:
            return f"embedded engine at {self._path}, database {self.database}"
        return f"{self._scheme}://{self._host}:{self._port}, database {self.database}"

    # -- connection ---------------------------------------------------------------------

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        try:
            import clickhouse_connect
        except ImportError:
            raise ConfigError(
                "BILLING_CLICKHOUSE_URL needs clickhouse-connect: pip install "
                "'nself-billing[clickhouse]'"
            ) from None
        try:
            if self.embedded:
                # clickhouse-connect's own chdb:// DSN (the database is chosen per query, not
                # with USE at connect time: it may not exist yet)
                location = "memory" if self._path == ":memory:" else self._path
                self._client = clickhouse_connect.get_client(dsn=f"chdb://{location}")
            else:
                self._client = clickhouse_connect.get_client(
                    host=self._host,
                    port=self._port,
                    username=self._user,
                    password=self._password,
                    secure=self._scheme == "https",
                    connect_timeout=self._connect_timeout,
                    send_receive_timeout=300,
                    autogenerate_session_id=False,
                    query_retries=0,
                )
        except Exception as error:
            raise self._error(error) from None
        return self._client

    def _error(self, error: BaseException) -> DatabaseError:
        lines = str(error).strip().splitlines()
        text = lines[0] if lines else type(error).__name__
        if self._password:
            text = text.replace(self._password, "***")
        return DatabaseError(f"ClickHouse: {text[:300]}")

    def _run(self, call: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            client = self._connect()
            try:
                return getattr(client, call)(*args, **kwargs)
            except Exception as error:
                raise self._error(error) from None

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                try:
                    self._client.close()
                finally:
                    self._client = None

    def ping(self) -> str:
        """The server's version (raises DatabaseError when unreachable)."""
        return str(self._run("command", "SELECT version()"))

    def create_tables(self) -> None:
        self._run("command", f"CREATE DATABASE IF NOT EXISTS {self.database}")
        self._run("command", _CREATE_TABLE.format(table=self.table))
        self._tables_ready = True

    def _ready(self) -> None:
        """Create the tables on first use (a read before the first shipment finds them)."""
        if not self._tables_ready:
            self.create_tables()

    # -- writes -------------------------------------------------------------------------

    def insert(self, rows: Sequence[Sequence[Any]], *, token: str) -> None:
        """Insert one batch (rows in ``_COLUMNS`` order) as one block. ``token`` is the
        batch's deduplication token: the same token again within the table's window is
        dropped by the server (``async_insert=0`` so the token is honoured as sent)."""
        self._ready()
        for row in rows:
            quantity = row[3]
            if quantity.as_tuple().exponent < -6 or abs(quantity) > MAX_QUANTITY:
                raise DatabaseError(f"ClickHouse: quantity {quantity} does not fit Decimal(18, 6)")
        columns = [list(column) for column in zip(*rows, strict=True)] if rows else []
        if not columns:
            return
        self._run(
            "insert",
            self.table,
            columns,
            column_names=_COLUMNS,
            column_oriented=True,
            settings=_insert_settings(token),
        )

    def insert_csv(self, data: bytes, *, token: str) -> None:
        """Insert one batch already rendered as CSV in ``_COLUMNS`` order (the shipper's path:
        PostgreSQL renders it), as one block with its deduplication token, every field read
        as PostgreSQL wrote it (``_CSV_AS_POSTGRESQL_WRITES``)."""
        self._ready()
        if not data:
            return
        self._run(
            "raw_insert",
            self.table,
            column_names=_COLUMNS,
            insert_block=data,
            fmt="CSV",
            settings=_insert_settings(token) | _CSV_AS_POSTGRESQL_WRITES,
        )

    # -- reads (exact: FINAL) -----------------------------------------------------------

    def day_totals(
        self, customer_ids: Sequence[str] | None = None
    ) -> dict[tuple[str, str, date], tuple[int, int]]:
        """Per customer, service and day: micro-units and events. Exact: ``FINAL`` collapses
        any row shipped twice before it is counted."""
        self._ready()
        where = ""
        parameters: dict[str, Any] = {}
        if customer_ids is not None:
            where = " WHERE customer_id IN {ids:Array(String)}"
            parameters["ids"] = list(customer_ids)
        result = self._run(
            "query",
            "SELECT customer_id, service_name, toDate(recorded_at) AS day,"  # noqa: S608
            f" toInt64(sum(quantity) * 1000000), count() FROM {self.table} FINAL{where}"
            " GROUP BY customer_id, service_name, day",
            parameters=parameters,
        )
        return {(c, s, d): (int(m), int(n)) for c, s, d, m, n in result.result_rows}

    def _export_where(self, start: datetime | None, end: datetime | None) -> str:
        where = "customer_id = {customer:String}"
        if start is not None:
            where += " AND recorded_at >= {start:DateTime64(6, 'UTC')}"
        if end is not None:
            where += " AND recorded_at < {end:DateTime64(6, 'UTC')}"
        return where

    @staticmethod
    def _bounds(customer_id: str, start: datetime | None, end: datetime | None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "customer": customer_id,
            "customer_field": f",{csv_field(customer_id)},",
        }
        if start is not None:
            params["start"] = start
        if end is not None:
            params["end"] = end
        return params

    def export_csv(
        self, customer_id: str, start: datetime | None, end: datetime | None
    ) -> Iterator[tuple[bytes, int]]:
        """The customer's raw events as CSV lines (no header), id order, rendered by the
        engine, as (bytes, lines in them). Exact: ``FINAL``. The lines come as
        ``FORMAT TabSeparated`` and are unescaped here (``_tsv_raw``): with chDB a
        ``TabSeparatedRaw`` result is not streamed but held whole, and its newlines would not
        tell the lines from a field's newlines."""
        self._ready()
        sql = (
            f"SELECT {_EXPORT_LINE} FROM {self.table} FINAL"  # noqa: S608 (fixed text)
            f" WHERE {self._export_where(start, end)} ORDER BY id{_EXPORT_SETTINGS}"
        )
        with self._lock:
            client = self._connect()
            try:
                stream = client.raw_stream(
                    sql, parameters=self._bounds(customer_id, start, end), fmt="TabSeparated"
                )
                try:
                    yield from _tsv_raw(stream.read)
                finally:
                    stream.close()
            except Exception as error:
                raise self._error(error) from None

    def export_lines(
        self, customer_id: str, start: datetime | None, end: datetime | None
    ) -> Iterator[tuple[int, str]]:
        """(id, CSV line) pairs in id order, to merge with events not shipped yet."""
        self._ready()
        sql = (
            f"SELECT id, {_EXPORT_LINE} FROM {self.table} FINAL"  # noqa: S608 (fixed text)
            f" WHERE {self._export_where(start, end)} ORDER BY id{_EXPORT_SETTINGS}"
        )
        yield from self._stream(sql, self._bounds(customer_id, start, end))

    def export_rows(
        self, customer_id: str, start: datetime | None, end: datetime | None
    ) -> Iterator[tuple[Any, ...]]:
        """Raw events as (id, customer, service, quantity text, time text, key, metadata),
        id order. Exact: ``FINAL``."""
        self._ready()
        sql = (
            f"SELECT id, customer_id, service_name, {_QUANTITY_TEXT},"  # noqa: S608
            f" {_TIME_TEXT}, nullIf(idempotency_key, ''), nullIf(metadata, '')"
            f" FROM {self.table} FINAL WHERE {self._export_where(start, end)} ORDER BY id"
        )
        yield from self._stream(sql, self._bounds(customer_id, start, end))

    def _stream(self, sql: str, parameters: dict[str, Any]) -> Iterator[Any]:
        with self._lock:
            client = self._connect()
            try:
                with client.query_rows_stream(sql, parameters=parameters) as stream:
                    yield from stream
            except Exception as error:
                raise self._error(error) from None

    def count(self) -> tuple[int, int]:
        """(events, distinct events): equal once parts are merged, or read with FINAL."""
        self._ready()
        row = self._run(
            "query",
            f"SELECT count(), (SELECT count() FROM {self.table} FINAL) FROM {self.table}",  # noqa: S608
        ).result_rows[0]
        return int(row[0]), int(row[1])

    def storage(self) -> tuple[int, int]:
        """(rows, bytes on disk) of the active parts."""
        self._ready()
        row = self._run(
            "query",
            "SELECT sum(rows), sum(bytes_on_disk) FROM system.parts"
            " WHERE database = {db:String} AND table = {table:String} AND active",
            parameters={"db": self.database, "table": TABLE},
        ).result_rows[0]
        return int(row[0] or 0), int(row[1] or 0)

    def drop(self) -> None:
        """Drop the database (tests and benchmarks only)."""
        self._run("command", f"DROP DATABASE IF EXISTS {self.database}")
