"""``sync [--status]``, ``reconcile`` and ``plan sync``: usage and the plan catalog to Stripe;
``reconcile`` also checks ClickHouse against the rollups when BILLING_CLICKHOUSE_URL is set."""

from __future__ import annotations

import click

from ..errors import BillingError, ProviderError
from ..render.stripe import (
    events_reconcile_text,
    outbox_record,
    outbox_text,
    plan_sync_lines,
    plan_sync_records,
    reconcile_records,
    stripe_reconcile_text,
)
from .output import echo, emit_records, format_option
from .state import CliState, pass_state


@click.command("sync")
@click.option(
    "--status",
    "show_status",
    is_flag=True,
    help="Only report what is pending, sent, failed and expired.",
)
@click.option(
    "--backfill",
    is_flag=True,
    help="First queue recorded usage that is not in the outbox yet (e.g. inserted with SQL).",
)
@click.option(
    "--retry-failed", is_flag=True, help="Queue events Stripe refused again before sending."
)
@click.option(
    "--resend-unknown",
    is_flag=True,
    help="Queue again events first sent over 24 h ago without an answer (after reconcile "
    "showed Stripe does not have them).",
)
@click.option(
    "--max-events",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many events (default: until none is due).",
)
@format_option()
@pass_state
def sync_command(
    state: CliState,
    show_status: bool,
    backfill: bool,
    retry_failed: bool,
    resend_unknown: bool,
    max_events: int | None,
    output_format: str,
) -> None:
    """Send recorded usage to Stripe Billing Meters (the outbox), exactly once."""
    billing = state.billing
    if not show_status:
        if backfill:
            queued = billing.outbox.backfill()
            if output_format == "table":
                echo(f"Queued {queued} usage events that were not in the outbox")
        if retry_failed:
            requeued = billing.outbox.requeue_failed()
            if requeued:
                echo(f"Requeued {requeued} failed events")
        if resend_unknown:
            requeued = billing.outbox.requeue_unknown()
            if requeued:
                echo(f"Requeued {requeued} unknown events")
        result = billing.outbox.drain(max_events=max_events)
        if output_format == "table":
            echo(f"Sent {result.sent} usage events to Stripe ({result.requests} requests)")
        if result.expired:
            click.echo(
                f"Warning: {result.expired} usage events are older than the 35 days "
                "Stripe accepts and were not sent (see sync --status)",
                err=True,
            )
        if result.failed:
            click.echo(
                f"Warning: Stripe refused {result.failed} events: {result.errors[-1]}", err=True
            )
        if result.unknown:
            click.echo(
                f"Warning: {result.unknown} usage events were first sent over 24 hours ago "
                "without an answer and are not resent (Stripe may have them): check with "
                "nself tenant billing reconcile",
                err=True,
            )
    status = billing.outbox.status()
    if output_format == "table":
        echo(outbox_text(status))
    else:
        record = outbox_record(status)
        emit_records([record], output_format, columns=list(record))
    if not show_status and result.stopped_by:
        raise ProviderError(
            f"{result.stopped_by} ({status.pending} events stay pending and are "
            "retried by the next sync)"
        )


@click.command("reconcile")
@format_option()
@pass_state
def reconcile_command(state: CliState, output_format: str) -> None:
    """Compare our usage totals for the current period with Stripe's meter summaries, and
    (with BILLING_CLICKHOUSE_URL) the per-day rollups with ClickHouse (exit 1 on a
    difference)."""
    billing = state.billing
    customer = state.customer_id or billing.settings.customer_id
    events = billing.events.reconcile(customer) if billing.events.configured else None
    lines = (
        billing.outbox.reconcile(customer)
        if events is None or billing.settings.provider == "stripe"
        else None
    )
    if output_format != "table":
        records, columns = reconcile_records(lines, events)
        emit_records(records, output_format, columns=columns)
    else:
        if lines is not None:
            echo(stripe_reconcile_text(lines))
        if events is not None:
            echo(events_reconcile_text(events))
    if events is not None and not events.consistent:
        raise BillingError(
            f"{len(events.differences)} (customer, service, day) totals differ between "
            "PostgreSQL and ClickHouse"
        )


@click.command("sync")
@format_option()
@pass_state
def plan_sync_command(state: CliState, output_format: str) -> None:
    """Create or find the Stripe Products, Prices and Meters of every plan."""
    entries = state.billing.stripe.plan_sync()
    if output_format != "table":
        records = plan_sync_records(entries)
        emit_records(records, output_format, columns=list(records[0]) if records else ["plan"])
        return
    echo("\n".join(plan_sync_lines(entries)))


COMMANDS = [sync_command, reconcile_command]
#: commands of another module's group, added by cli/main.py: ``plan sync``
SUBCOMMANDS = {"plan": [plan_sync_command]}
