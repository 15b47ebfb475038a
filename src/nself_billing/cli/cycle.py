"""``cycle``: close every billing period that has ended (run it from cron)."""

from __future__ import annotations

import click

from ..domain.money import format_money
from ..domain.periods import days_label
from .render import echo, format_option, json_text
from .state import CliState, pass_state

#: invoices listed one a line by the table output (JSON lists every id)
SHOWN_INVOICES = 50


@click.command("cycle")
@format_option(choices=("table", "json"))
@pass_state
def cycle(state: CliState, output_format: str) -> None:
    """Close ended billing periods: invoice them, apply scheduled changes, open the next.

    Safe to run any number of times: a period is never invoiced twice."""
    result = state.billing.cycle.run()
    if output_format == "json":
        echo(
            json_text(
                {
                    "closed": result.closed,
                    "invoices": result.invoice_ids,
                    "total": result.total,
                    "downgraded": result.downgraded,
                    "canceled": result.canceled,
                    "adjustments": result.adjustments,
                    "failures": [{"subscription_id": s, "error": e} for s, e in result.failures],
                    "skipped_reason": result.skipped_reason,
                }
            )
        )
    elif result.skipped_reason:
        echo(f"Billing cycle skipped: {result.skipped_reason}")
    elif not result.closed and not result.failures:
        echo("Billing cycle: nothing due")
    else:
        echo(
            f"Billing cycle: closed {result.closed} period(s), {len(result.invoice_ids)} "
            f"invoice(s) totalling {format_money(result.total)}"
        )
        echo(
            f"Scheduled changes applied: {result.downgraded} downgrade(s), "
            f"{result.canceled} cancellation(s)"
        )
        if result.adjustments:
            echo(f"Late usage adjustments: {result.adjustments}")
        for invoice in result.invoices[:SHOWN_INVOICES]:
            period = (
                days_label(invoice.period_start, invoice.period_end)
                if invoice.period_start and invoice.period_end
                else "-"
            )
            echo(
                f"Invoice {invoice.invoice_id}: {invoice.customer_id} "
                f"{format_money(invoice.total, invoice.currency)} for {period}"
            )
        if len(result.invoices) > SHOWN_INVOICES:
            echo(
                f"... and {len(result.invoices) - SHOWN_INVOICES} more invoice(s) "
                "(see: --format json)"
            )
    for subscription_id, message in result.failures:
        click.echo(f"Error: {subscription_id} not closed: {message}", err=True)
    if result.failures:
        raise click.exceptions.Exit(1)


COMMANDS = [cycle]
