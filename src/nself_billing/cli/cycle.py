"""``cycle``: close every billing period that has ended (run it from cron)."""

from __future__ import annotations

import click

from ..render.cycle import cycle_lines, cycle_record
from ..render.formats import json_text
from .output import echo, format_option
from .state import CliState, pass_state


@click.command("cycle")
@format_option(choices=("table", "json"))
@pass_state
def cycle(state: CliState, output_format: str) -> None:
    """Close ended billing periods: invoice them, apply scheduled changes, open the next.

    Safe to run any number of times: a period is never invoiced twice."""
    result = state.billing.cycle.run()
    if output_format == "json":
        echo(json_text(cycle_record(result)))
    else:
        for line in cycle_lines(result):
            echo(line)
    for subscription_id, message in result.failures:
        click.echo(f"Error: {subscription_id} not closed: {message}", err=True)
    if result.failures:
        raise click.exceptions.Exit(1)


COMMANDS = [cycle]
