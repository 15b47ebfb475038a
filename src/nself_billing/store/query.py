"""An operator's SQL (``billing_db_query``), run as given with bound parameters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, text


def run_sql(
    conn: Connection, sql: str, params: Mapping[str, Any]
) -> tuple[list[str], list[Sequence[Any]]]:
    """Columns and rows (none for a statement that returns no rows)."""
    result = conn.execute(text(sql), dict(params))
    if not result.returns_rows:
        return [], []
    return list(result.keys()), [tuple(row) for row in result]
