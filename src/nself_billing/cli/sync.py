"""``sync [--status]``, ``reconcile`` and ``plan sync``: usage and the plan catalog to Stripe;
``reconcile`` also checks ClickHouse against the rollups when BILLING_CLICKHOUSE_URL is set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ..domain.periods import days_label
from ..errors import BillingError, ProviderError
from .render import echo, emit_records, format_option, table_text
from .state import CliState, pass_state

if TYPE_CHECKING:
    from ..services.event_shipping import EventReconcile
    from ..services.stripe_outbox import ReconcileLine


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
    record: dict[str, Any] = {
        "pending": status.pending,
        "sent": status.sent,
        "failed": status.failed,
        "expired": status.expired,
        "unknown": status.unknown,
        "pending_older_than_35_days": status.pending_too_old,
        "oldest_pending": status.oldest_pending,
        "last_error": status.last_error,
    }
    if output_format == "table":
        lines = [
            f"Pending: {status.pending}",
            f"Sent: {status.sent}",
            f"Failed: {status.failed}",
            f"Expired (older than 35 days, not sent): {status.expired}",
        ]
        if status.unknown:
            lines.append(
                f"Unknown (first sent over 24 h ago without an answer, not resent; "
                f"check with reconcile): {status.unknown}"
            )
        if status.pending_too_old:
            lines.append(f"Pending but older than 35 days: {status.pending_too_old}")
        if status.oldest_pending:
            lines.append(f"Oldest pending: {status.oldest_pending.isoformat()}")
        if status.last_error:
            lines.append(f"Last error: {status.last_error}")
        echo("\n".join(lines))
    else:
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
    records: list[dict[str, Any]] = []
    if lines is not None:
        records += [
            {
                "customer_id": line.customer_id,
                "service": line.service,
                "period_start": line.period_start,
                "period_end": line.period_end,
                "ours": line.ours,
                "stripe": line.stripe,
                "pending": line.unsent,
                "difference": line.difference,
            }
            for line in lines
        ]
    if events is not None:
        records = [{"check": "stripe", **record} for record in records] + [
            {
                "check": "clickhouse",
                "customer_id": d.customer_id,
                "service": d.service,
                "day": d.day,
                "postgres": d.postgres,
                "clickhouse": d.clickhouse,
                "pending": d.pending,
                "difference": d.difference,
            }
            for d in events.differences
        ]
    if output_format != "table":
        columns: list[str] = []
        for record in records:
            columns += [c for c in record if c not in columns]
        emit_records(records, output_format, columns=columns or _RECONCILE_COLUMNS)
    else:
        if lines is not None:
            _stripe_table(lines)
        if events is not None:
            _events_table(events)
    if events is not None and not events.consistent:
        raise BillingError(
            f"{len(events.differences)} (customer, service, day) totals differ between "
            "PostgreSQL and ClickHouse"
        )


_RECONCILE_COLUMNS = [
    "customer_id",
    "service",
    "period_start",
    "period_end",
    "ours",
    "stripe",
    "pending",
    "difference",
]


def _stripe_table(lines: list[ReconcileLine]) -> None:
    if not lines:
        echo("No active subscription with usage in its current period")
        return
    rows = [
        [
            line.customer_id,
            line.service,
            days_label(line.period_start, line.period_end),
            _num(line.ours),
            "-" if line.stripe is None else _num(line.stripe),
            _num(line.unsent),
            "no meter" if line.difference is None else _num(line.difference),
        ]
        for line in lines
    ]
    echo(
        table_text(
            ["Customer", "Service", "Period", "Ours", "Stripe", "Pending", "Difference"],
            rows,
            justify=["left", "left", "left", "right", "right", "right", "right"],
        )
    )
    off = [line for line in lines if line.difference not in (None, 0)]
    echo(
        "In step with Stripe"
        if not off
        else f"{len(off)} differences (Difference = ours - pending - Stripe)"
    )


def _events_table(report: EventReconcile) -> None:
    if report.differences:
        rows = [
            [
                d.customer_id,
                d.service,
                d.day.isoformat(),
                f"{_num(d.postgres)} ({d.postgres_events})",
                f"{_num(d.clickhouse)} ({d.clickhouse_events})",
                f"{_num(d.pending)} ({d.pending_events})",
                _num(d.difference),
            ]
            for d in report.differences
        ]
        echo(
            table_text(
                ["Customer", "Service", "Day", "PostgreSQL", "ClickHouse", "Pending", "Difference"],
                rows,
                justify=["left", "left", "left", "right", "right", "right", "right"],
            )
        )
        return
    echo(
        f"ClickHouse in step with the PostgreSQL rollups ({report.compared:,} customer, "
        "service and day totals compared)"
    )


def _num(value: Any) -> str:
    text = format(value.normalize(), "f") if value is not None else "-"
    return text


@click.command("sync")
@format_option()
@pass_state
def plan_sync_command(state: CliState, output_format: str) -> None:
    """Create or find the Stripe Products, Prices and Meters of every plan."""
    entries = state.billing.stripe.plan_sync()
    records = [
        {
            "plan": e.plan_name,
            "product": e.product_id,
            "price_monthly": e.price_monthly_id,
            "price_yearly": e.price_yearly_id,
            "meters": ",".join(f"{s}={m}" for s, (m, _p) in sorted(e.meters.items())),
            "created": len(e.created),
        }
        for e in entries
    ]
    if output_format != "table":
        emit_records(records, output_format, columns=list(records[0]) if records else ["plan"])
        return
    for entry in entries:
        made = f"created {', '.join(entry.created)}" if entry.created else "up to date"
        echo(
            f"{entry.plan_name}: {entry.product_id} monthly={entry.price_monthly_id or '-'} "
            f"yearly={entry.price_yearly_id or '-'} meters={len(entry.meters)} ({made})"
        )
    echo(f"Plan catalog synced with Stripe ({len(entries)} plans)")


COMMANDS = [sync_command, reconcile_command]
#: commands of another module's group, added by cli/main.py: ``plan sync``
SUBCOMMANDS = {"plan": [plan_sync_command]}
