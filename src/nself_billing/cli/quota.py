"""``quota [--service] [--usage] [--alerts] [--format]`` and ``quota override``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..domain.humanize import human_limit
from ..render.quotas import render_alerts, render_quotas
from .state import CliState, pass_state

if TYPE_CHECKING:
    from ..services.quick_reads import QuickReads
    from ..services.quotas import CustomerLimits, QuotaLine


def _quick_lines(
    quick: QuickReads, services: list[str] | None, with_usage: bool
) -> tuple[CustomerLimits, list[QuotaLine]]:
    limits = quick.limits()
    return limits, quick.quota_lines(limits, services, with_usage=with_usage)


def show_quotas(
    state: CliState, *, service: str | None, with_usage: bool, alerts: bool, output_format: str
) -> str:
    services = [service] if service else None
    if not alerts:
        limits, lines = state.read(
            lambda quick: _quick_lines(quick, services, with_usage),
            lambda b: (
                b.quotas.limits(fresh=True),
                b.quotas.statuses(services=services, with_usage=with_usage),
            ),
        )
        return render_quotas(
            limits.plan_name, lines, with_usage=with_usage, output_format=output_format
        )
    quotas = state.billing.quotas  # --alerts records the thresholds reached: a write
    limits = quotas.limits(fresh=True)
    if service:
        quotas.status(service)  # an unknown service is an error, not an empty list
    hot, records = quotas.alerts()
    return render_alerts(
        limits.plan_name, hot, records, output_format=output_format, services=services
    )


@click.group("quota", invoke_without_command=True)
@click.option("--service", metavar="NAME", help="Show one service only.")
@click.option(
    "--usage",
    "with_usage",
    is_flag=True,
    help="Include current usage, what is available, and the status band.",
)
@click.option("--alerts", is_flag=True, help="Show only services at 75% of their quota or more.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.pass_context
def quota_group(
    ctx: click.Context, service: str | None, with_usage: bool, alerts: bool, output_format: str
) -> None:
    """Display quota limits and usage for all services."""
    if ctx.invoked_subcommand is not None:
        return
    state = ctx.find_object(CliState)
    assert state is not None
    click.echo(
        show_quotas(
            state,
            service=service,
            with_usage=with_usage,
            alerts=alerts,
            output_format=output_format,
        )
    )


@quota_group.command("override")
@click.argument("service")
@click.argument("limit", required=False)
@click.option(
    "--mode", type=click.Choice(["soft", "hard"]), help="Enforcement mode (default: the plan's)."
)
@click.option("--clear", is_flag=True, help="Remove the override: back to the plan's quota.")
@pass_state
def quota_override(
    state: CliState, service: str, limit: str | None, mode: str | None, clear: bool
) -> None:
    """Set one customer's quota for a service (a number or 'unlimited'), or --clear it."""
    quotas = state.billing.quotas
    if clear:
        if limit is not None or mode is not None:
            raise click.UsageError("--clear takes no limit or --mode")
        cleared = quotas.clear_override(service)
        quota = quotas.limits().quotas[service]
        plan_limit = human_limit(service, quota.limit)
        click.echo(
            f"Override cleared: {service} is back to the plan's quota ({plan_limit})"
            if cleared
            else f"No override for {service} (plan's quota: {plan_limit})"
        )
        return
    if limit is None:
        raise click.UsageError("Missing argument 'LIMIT' (a number or 'unlimited')")
    quota = quotas.set_override(service, limit, mode=mode)
    value = (
        "unlimited"
        if quota.limit is None
        else (f"{human_limit(service, quota.limit)} {quota.unit} ({quota.mode.value})")
    )
    click.echo(f"Override set: {service} = {value} for {state.billing.customer_id}")


COMMANDS = [quota_group]
