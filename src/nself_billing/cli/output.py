"""What the CLI adds to the presenters of ``render/``: the ``--format`` option and echoing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from ..render.formats import OUTPUT_FORMATS, records_text

F = TypeVar("F", bound=Callable[..., Any])


def format_option(
    default: str = "table", choices: Sequence[str] = OUTPUT_FORMATS
) -> Callable[[F], F]:
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(list(choices)),
        default=default,
        show_default=True,
        help="Output format.",
    )


def echo(text: str) -> None:
    click.echo(text)


def echo_lines(lines: Sequence[str]) -> None:
    for line in lines:
        click.echo(line)


def emit_records(
    records: Sequence[dict[str, Any]],
    output_format: str,
    *,
    columns: Sequence[str],
    table: str | None = None,
) -> None:
    """Print records as JSON (a list), CSV (the given columns) or the prepared table text."""
    click.echo(records_text(records, output_format, columns=columns, table=table), nl=False)
