"""``export [usage|invoices|subscriptions|payments|all]``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..domain.reporting import EXPORT_TYPES
from .output import echo
from .state import CliState, pass_state

if TYPE_CHECKING:
    from rich.console import Console


@click.command("export")
@click.argument("kind", required=False, type=click.Choice(EXPORT_TYPES), metavar="[TYPE]")
@click.option("--all", "export_all", is_flag=True, help="Export everything (the default).")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["json", "csv"]),
    default="json",
    show_default=True,
    help="Export format.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file (default: nself_billing_<type>_<timestamp>.<ext>).",
)
@click.option("--year", type=click.IntRange(1970, 9999), help="Only this year (usage, invoices).")
@click.option("--raw", is_flag=True, help="Usage as raw events instead of daily totals.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@pass_state
def export(
    state: CliState,
    kind: str | None,
    export_all: bool,
    output_format: str,
    output: Path | None,
    year: int | None,
    raw: bool,
    force: bool,
) -> None:
    """Export billing data: TYPE is usage, invoices, subscriptions, payments or all."""
    if kind and export_all and kind != "all":
        raise click.UsageError("give either a TYPE or --all, not both")
    kind = kind or "all"
    service = state.billing.export
    paths = service.planned_paths(kind, output_format, output)
    service.check_targets(paths, force=force)
    echo(f"Exporting billing data to: {', '.join(str(p) for p in paths)}")
    total = service.count_rows(kind, year=year, raw=raw) if sys.stderr.isatty() else None
    if total is None:
        result = service.export(
            kind, output_format=output_format, output=output, year=year, raw=raw, force=force
        )
    else:
        from rich.progress import Progress

        with Progress(transient=True, console=_stderr_console()) as bar:
            task = bar.add_task("Exporting", total=total)
            result = service.export(
                kind,
                output_format=output_format,
                output=output,
                year=year,
                raw=raw,
                force=force,
                progress=lambda done: bar.update(task, completed=done),
            )
    for path in result.paths:
        echo(f"Export complete: {path}")


def _stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


COMMANDS = [export]
