"""``quota [--service] [--usage] [--alerts] [--format]`` and ``quota override`` (and the
presenters shared with the ``quota_get_*`` functions)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import click

from ..domain.humanize import human_limit, human_quantity
from .render import csv_text, json_text, table_text
from .state import CliState, pass_state

if TYPE_CHECKING:
    from ..services.quick_reads import QuickReads
    from ..services.quotas import AlertRecord, CustomerLimits, QuotaLine

LIMIT_COLUMNS = ("service", "quota", "unit", "mode", "source")
USAGE_COLUMNS = (*LIMIT_COLUMNS, "usage", "available", "percent", "status")
LEGEND = (
    "Status Legend:",
    "✓ - Below 75% of quota",
    "⚡ - 75-89% of quota (Warning)",
    "⚠ - 90% or above (Critical)",
    "⚠ OVER - Quota exceeded",
)


def status_text(line: QuotaLine) -> str:
    if line.quota.limit is None:
        return "✓ Unlimited"
    return f"{line.band.icon} {line.percent}%"


def _exact(value: Decimal | None) -> Decimal | None:
    """Without the storage's six trailing zeros: 1000000, 0.5."""
    return None if value is None else value.normalize() + 0


def quota_record(line: QuotaLine, *, with_usage: bool) -> dict[str, Any]:
    quota = line.quota
    record: dict[str, Any] = {
        "service": line.service,
        "quota": _exact(quota.limit),
        "unit": quota.unit,
        "mode": quota.mode.value if quota.limit is not None else None,
        "source": quota.source,
    }
    if with_usage:
        record |= {
            "usage": _exact(line.usage),
            "available": _exact(line.available),
            "percent": line.percent if quota.limit is not None else None,
            "status": line.band.value,
            "period_start": line.period.start,
            "period_end": line.period.end,
        }
    return record


def _limit_cell(line: QuotaLine) -> str:
    text = human_limit(line.service, line.quota.limit)
    return text + " *" if line.quota.source == "override" else text


def quotas_table(plan_name: str, lines: Sequence[QuotaLine], *, with_usage: bool) -> str:
    banner = ("QUOTA LIMITS", f"Plan: {plan_name}")
    if with_usage:
        columns = ["Service", "Limit", "Current Usage", "Available", "Status"]
        rows = [
            [
                line.service,
                _limit_cell(line),
                human_quantity(line.service, line.usage or Decimal(0)),
                human_limit(line.service, line.available),
                status_text(line),
            ]
            for line in lines
        ]
    else:
        columns = ["Service", "Limit", "Type", "Mode"]
        rows = [
            [
                line.service,
                _limit_cell(line),
                line.quota.unit,
                line.quota.mode.value if line.quota.limit is not None else "-",
            ]
            for line in lines
        ]
    text = table_text(columns, rows, banner=banner)
    notes = []
    if any(line.quota.source == "override" for line in lines):
        notes.append("* per-customer override of the plan's quota")
    if with_usage:
        notes += ["", *LEGEND] if notes else LEGEND
    return "\n".join([text, *notes]) if notes else text


def render_quotas(
    plan_name: str, lines: Sequence[QuotaLine], *, with_usage: bool, output_format: str
) -> str:
    records = [quota_record(line, with_usage=with_usage) for line in lines]
    if output_format == "json":
        return json_text(records)
    if output_format == "csv":
        columns = USAGE_COLUMNS if with_usage else LIMIT_COLUMNS
        return csv_text(columns, [[r.get(c) for c in columns] for r in records]).rstrip("\r\n")
    return quotas_table(plan_name, lines, with_usage=with_usage)


def render_alerts(
    plan_name: str,
    hot: Sequence[QuotaLine],
    records: Sequence[AlertRecord],
    *,
    output_format: str,
    services: Sequence[str] | None = None,
) -> str:
    by_service: dict[str, list[AlertRecord]] = {}
    for record in records:
        by_service.setdefault(record.service, []).append(record)
    lines = [line for line in hot if services is None or line.service in services]
    if output_format != "table":
        data = []
        for line in lines:
            item = quota_record(line, with_usage=True)
            item["alerts"] = [
                {
                    "threshold": r.threshold,
                    "usage": _exact(r.usage),
                    "quota": _exact(r.limit),
                    "recorded_at": r.created_at,
                }
                for r in by_service.get(line.service, [])
            ]
            data.append(item)
        if output_format == "json":
            return json_text(data)
        columns = (*USAGE_COLUMNS, "alerts")
        rows = [
            [
                *(d.get(c) for c in USAGE_COLUMNS),
                " ".join(f"{a['threshold']}%" for a in d["alerts"]),
            ]
            for d in data
        ]
        return csv_text(columns, rows).rstrip("\r\n")
    if not lines:
        return "No quota alerts: every service is below 75% of its quota."
    table_rows: list[list[str]] = [
        [
            line.service,
            _limit_cell(line),
            human_quantity(line.service, line.usage or Decimal(0)),
            status_text(line),
            ", ".join(f"{r.threshold}%" for r in by_service.get(line.service, [])) or "-",
        ]
        for line in lines
    ]
    return table_text(
        ["Service", "Limit", "Current Usage", "Status", "Alerts Recorded"],
        table_rows,
        banner=("QUOTA ALERTS", f"Plan: {plan_name}"),
    )


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
