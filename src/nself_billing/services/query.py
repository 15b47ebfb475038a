"""``billing_db_query``: run an operator's SQL, with bound parameters, in the spec's formats."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ..errors import InvalidInput
from ..store.query import run_sql
from .context import Context

QUERY_FORMATS = ("tuples", "csv", "json")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return value


def _tuple_field(value: Any) -> str:
    plain = _plain(value)
    if plain is None:
        return ""
    if isinstance(plain, bool):
        return "t" if plain else "f"
    if isinstance(plain, dict | list):
        return json.dumps(plain, separators=(",", ":"))
    return str(plain)


class QueryService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def run(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> tuple[list[str], list[Sequence[Any]]]:
        """Columns and rows. Statements that change data are committed."""
        if not sql.strip():
            raise InvalidInput("Empty SQL query")
        with self._ctx.db.write() as conn:
            return run_sql(conn, sql, params or {})

    def render(
        self, sql: str, output_format: str = "tuples", params: Mapping[str, Any] | None = None
    ) -> str:
        if output_format not in QUERY_FORMATS:
            raise InvalidInput(
                f"Invalid format: {output_format} (expected one of: {', '.join(QUERY_FORMATS)})"
            )
        columns, rows = self.run(sql, params)
        if output_format == "json":
            return json.dumps(
                [{c: _plain(v) for c, v in zip(columns, row, strict=True)} for row in rows],
                default=str,
            )
        if output_format == "csv":
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            if columns:
                writer.writerow(columns)
            writer.writerows([[_tuple_field(v) for v in row] for row in rows])
            return buffer.getvalue().rstrip("\n")
        # psql -t -A: one line per row, fields joined by "|"
        return "\n".join("|".join(_tuple_field(v) for v in row) for row in rows)
