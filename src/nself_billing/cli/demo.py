"""``demo``: a demo tenant with a month of usage, and its usage summary."""

from __future__ import annotations

import click

from ..render.usage import render_report
from .state import CliState, pass_state


@click.command("demo")
@pass_state
def demo(state: CliState) -> None:
    """Create a demo customer on pro with a month of synthetic usage and show its summary."""
    billing = state.billing
    result = billing.run_demo()
    where = "PostgreSQL" if billing.settings.uses_postgresql else str(billing.settings.sqlite_path)
    verb = "created" if result.created else "reused"
    click.echo(f"Demo customer {result.customer_id} ({result.plan_name}) {verb} in {where}")
    click.echo(
        f"Recorded {result.recorded.accepted:,} synthetic usage events "
        f"({result.recorded.duplicates:,} were already recorded)"
    )
    report = billing.usage.summary(customer_id=result.customer_id)
    click.echo(render_report(report, "table", detailed=False), nl=False)
    click.echo(f"More: nself tenant billing --customer {result.customer_id} usage --detailed")


COMMANDS = [demo]
