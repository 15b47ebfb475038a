"""``usage`` (the report, the group's default action), ``usage record`` and ``usage import``."""

from __future__ import annotations

import sys

import click

from ..domain.reporting import REPORT_PERIODS
from ..domain.services import SERVICE_NAMES
from ..errors import BillingError
from ..render.formats import OUTPUT_FORMATS
from ..render.usage import drift_lines, render_report
from .state import CliState, pass_state


@click.group("usage", invoke_without_command=True)
@click.option("--service", metavar="NAME", help=f"Only this service ({', '.join(SERVICE_NAMES)}).")
@click.option(
    "--period",
    type=click.Choice(REPORT_PERIODS),
    default="current",
    show_default=True,
    help="The current billing period, the one before, or --start..--end.",
)
@click.option("--start", metavar="YYYY-MM-DD", help="First day of a custom period.")
@click.option("--end", metavar="YYYY-MM-DD", help="Last day of a custom period (inclusive).")
@click.option("--detailed", is_flag=True, help="Add the daily breakdown.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(OUTPUT_FORMATS),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.pass_context
def usage_group(
    ctx: click.Context,
    service: str | None,
    period: str,
    start: str | None,
    end: str | None,
    detailed: bool,
    output_format: str,
) -> None:
    """Usage of the current billing period (or another), per service, with its cost."""
    if ctx.invoked_subcommand is not None:
        return
    state = ctx.find_object(CliState)
    assert state is not None
    report = state.read(
        lambda quick: quick.usage_report(
            period=period, start=start, end=end, service=service, detailed=detailed
        ),
        lambda b: b.usage.summary(
            period=period, start=start, end=end, service=service, detailed=detailed
        ),
    )
    click.echo(render_report(report, output_format, detailed=detailed), nl=False)


@usage_group.command("record", context_settings={"ignore_unknown_options": True})
@click.argument("service")
@click.argument("quantity")
@click.option("--metadata", metavar="JSON", help="A JSON object stored with the event.")
@click.option(
    "--id",
    "idempotency_key",
    metavar="KEY",
    help="Idempotency key: recording the same key again changes nothing.",
)
@click.option(
    "--at", "at", metavar="TIME", help="When it happened (ISO 8601; UTC if no zone; default now)."
)
@pass_state
def usage_record(
    state: CliState,
    service: str,
    quantity: str,
    metadata: str | None,
    idempotency_key: str | None,
    at: str | None,
) -> None:
    """Record one usage event."""
    result = state.billing.usage.record(
        service, quantity, metadata, idempotency_key=idempotency_key, at=at
    )
    if result.recorded:
        click.echo(f"Recorded: {service} {quantity} (id {result.idempotency_key})")
    else:
        click.echo(f"Already recorded: {service} (id {result.idempotency_key}); nothing changed")


@usage_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--format",
    "input_format",
    type=click.Choice(["auto", "jsonl", "csv"]),
    default="auto",
    show_default=True,
    help="JSON lines or CSV with a header (auto: by extension, else by content).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=20_000,
    show_default=True,
    help="Events per transaction.",
)
@pass_state
def usage_import(state: CliState, file: str, input_format: str, batch_size: int) -> None:
    """Import usage events from a file (JSON lines or CSV; '-' reads stdin)."""
    from ..errors import BillingError
    from ..services.usage_import import open_source

    source = open_source(file, input_format)
    progress = None
    bar = None
    if sys.stderr.isatty() and source.size:
        from rich.console import Console
        from rich.progress import Progress

        bar = Progress(transient=True, console=Console(stderr=True))
        task = bar.add_task("Importing", total=source.size)
        bar.start()

        def progress(done: int) -> None:
            bar.update(task, completed=done)

    try:
        result = state.billing.import_usage(source, batch_size=batch_size, progress=progress)
    finally:
        if bar is not None:
            bar.stop()
        source.close()
    for rejection in result.rejected:
        click.echo(f"Rejected line {rejection.line}: {rejection.reason}", err=True)
    click.echo(
        f"Imported {source.name}: {result.accepted:,} accepted, "
        f"{result.duplicates:,} duplicate, {len(result.rejected):,} rejected"
    )
    if result.rejected:
        raise BillingError(
            f"{len(result.rejected):,} of {result.lines:,} lines rejected "
            "(the others were imported)"
        )


@usage_group.command("rebuild")
@click.option(
    "--check",
    is_flag=True,
    help="Only report where the rollups differ from the raw events (exit 1 if so).",
)
@pass_state
def usage_rebuild(state: CliState, check: bool) -> None:
    """Rebuild the per-day rollups from the raw events (after inserting usage with SQL)."""
    report = state.billing.rollups.rebuild(check=check)
    for line in drift_lines(report):
        click.echo(line)
    if check:
        if report.consistent:
            click.echo("Rollups match the raw events")
            return
        raise BillingError(
            f"{len(report.drift):,} rollup rows differ from the raw events and "
            f"{report.filled:,} events lack an exact quantity "
            "(run: nself tenant billing usage rebuild)"
        )
    click.echo(
        f"Rebuilt: {len(report.drift):,} rollup rows corrected, "
        f"{report.filled:,} events given an exact quantity"
    )


@usage_group.command("ship")
@click.option("--once", is_flag=True, help="Ship what is waiting, then exit (default: keep going).")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 1_000_000),
    default=10_000,
    show_default=True,
    help="Events per ClickHouse insert.",
)
@click.option(
    "--interval",
    type=click.FloatRange(0.05, 3600),
    default=1.0,
    show_default=True,
    help="Seconds to wait when nothing is waiting (without --once).",
)
@pass_state
def usage_ship(state: CliState, once: bool, batch_size: int, interval: float) -> None:
    """Move recorded usage events to ClickHouse (BILLING_CLICKHOUSE_URL), then delete shipped
    raw rows past BILLING_RAW_USAGE_KEEP_DAYS whose period is closed."""
    events = state.billing.events
    location = events.clickhouse.location  # a clear error when ClickHouse is not configured
    if not once:
        import signal
        import threading

        stop = threading.Event()
        # Ctrl-C or a service manager's SIGTERM: finish the batch in flight, then stop
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, lambda *_: stop.set())
        click.echo(f"Shipping usage events to ClickHouse ({location}); Ctrl-C to stop")
        events.run_worker(stop, idle_seconds=interval, batch_size=batch_size)
        click.echo(f"Stopped; {events.status().pending:,} events waiting")
        return
    result = events.ship(batch_size=batch_size)
    pruned = events.prune()
    status = events.status()
    click.echo(
        f"Shipped {result.events:,} events in {result.batches:,} batches "
        f"({status.pending:,} waiting); deleted {pruned:,} shipped raw rows past the horizon"
    )


COMMANDS = [usage_group]
