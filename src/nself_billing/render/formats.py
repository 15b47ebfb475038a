"""The formats every presenter writes: the spec's box-drawn tables for people, JSON and CSV for
programs. No click: the CLI echoes these strings, the function API prints or returns them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

OUTPUT_FORMATS = ("table", "json", "csv")

#: the spec's frame: double outer edge, single inner column rules, ═ under the header
SPEC_BOX_LINES = "╔══╗\n║ │║\n╠═╪╣\n║ │║\n╟─┼╢\n╠═╪╣\n║ │║\n╚═╧╝\n"
#: the same frame continuing a banner drawn above it
SPEC_BOX_CONTINUED_LINES = "╠══╣" + SPEC_BOX_LINES[4:]


def table_text(
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    banner: Sequence[str] = (),
    justify: Sequence[str] | None = None,
    footer: Sequence[str] | None = None,
) -> str:
    """A spec-style table as text. ``banner`` lines are framed above the column header, the
    first one centred (e.g. "USAGE SUMMARY", "Period: ...")."""
    # rich costs ~30 ms to import: only commands that draw a table pay for it
    from rich import box
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table

    table = Table(
        box=box.Box(SPEC_BOX_CONTINUED_LINES if banner else SPEC_BOX_LINES),
        show_edge=True,
        pad_edge=True,
        show_footer=footer is not None,
        header_style=None,
        footer_style=None,
        highlight=False,
    )
    for i, column in enumerate(columns):
        table.add_column(
            column,
            justify=(justify[i] if justify else "left"),  # type: ignore[arg-type]
            footer=footer[i] if footer else "",
            no_wrap=True,
        )
    for row in rows:
        table.add_row(*row)
    console = Console(
        file=io.StringIO(),
        width=400,
        color_system=None,
        highlight=False,
        emoji=False,
        markup=False,
        legacy_windows=False,
        soft_wrap=False,
    )
    console.print(table)
    body = [line.rstrip() for line in console.file.getvalue().splitlines()]  # type: ignore[attr-defined]
    if not banner:
        return "\n".join(body)
    width = cell_len(body[0])
    inner = width - 4
    lines = ["╔" + "═" * (width - 2) + "╗"]
    for i, text in enumerate(banner):
        if i:
            lines.append("╠" + "═" * (width - 2) + "╣")
        content = text.center(inner) if i == 0 else text
        lines.append("║ " + content + " " * max(inner - cell_len(content), 0) + " ║")
    return "\n".join(lines + body)


#: types ``plain`` passes through as they are (checked first: most values of a record)
_AS_IS = frozenset({str, int, float, bool, type(None)})


def plain(value: Any) -> Any:
    """JSON-safe value: Decimals become exact strings, times ISO 8601."""
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is Decimal:
        return format(value, "f")
    if kind is datetime:
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def plain_record(record: dict[str, Any]) -> dict[str, Any]:
    """A record as JSON-safe values (see ``plain``): what the HTTP API answers."""
    return {str(k): plain(v) for k, v in record.items()}


def spec_numbers(value: Any) -> Any:
    """JSON-safe as the spec's bash functions printed it: Decimals become JSON numbers (an
    integer when whole), times ISO 8601 (``billing_get_quota_status``)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(k): spec_numbers(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [spec_numbers(v) for v in value]
    return plain(value)


def with_old_names(record: dict[str, Any], old_names: Mapping[str, str]) -> dict[str, Any]:
    """``record`` with, beside some of its fields, the names a face gave them before the one
    record (``{old name: field}``), kept for that face's clients."""
    return record | {old: record[name] for old, name in old_names.items()}


def json_text(data: Any) -> str:
    return json.dumps(plain(data), indent=2, ensure_ascii=False)


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else plain(v) for v in row])
    return buffer.getvalue()


def records_text(
    records: Sequence[dict[str, Any]],
    output_format: str,
    *,
    columns: Sequence[str],
    table: str | None = None,
) -> str:
    """Records as JSON (a list, with its newline), CSV (the given columns, CRLF lines) or the
    prepared table text (with its newline)."""
    if output_format == "json":
        return json_text(list(records)) + "\n"
    if output_format == "csv":
        return csv_text(columns, [[r.get(c) for c in columns] for r in records])
    return (table or "") + "\n"
