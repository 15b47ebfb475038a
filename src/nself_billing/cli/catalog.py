"""``plan list|show|compare|current`` (and their presenters, shared with ``subscription plans``)."""

from __future__ import annotations

from typing import Any

import click

from ..domain.humanize import human_limit, plain_number
from ..domain.money import format_price
from ..domain.plans import Plan
from ..domain.services import SERVICE_NAMES, unit_of
from .aliases import AliasedGroup
from .render import echo, emit_records, format_option, table_text
from .state import CliState, pass_state

PLAN_COLUMNS = ("plan", "price_monthly", "price_yearly", "description", "tier")


def plan_record(plan: Plan) -> dict[str, Any]:
    return {
        "plan": plan.name,
        "price_monthly": plan.price_monthly,
        "price_yearly": plan.price_yearly,
        "description": plan.description,
        "tier": plan.tier,
        "stripe_price_id": plan.stripe_price_id,
        "quotas": {
            quota.service: {
                "limit": quota.limit,
                "unit": quota.unit,
                "mode": quota.mode.value,
                "overage_price": quota.overage_price,
            }
            for quota in plan.quotas
        },
    }


def plans_table(plans: list[Plan], *, detailed: bool = False) -> str:
    columns = ["Plan", "Price/Month", "Features"]
    if detailed:
        columns += ["Price/Year", "Price ID"]
    rows = []
    for plan in plans:
        row = [plan.display_name, format_price(plan.price_monthly), plan.description]
        if detailed:
            row += [format_price(plan.price_yearly), plan.stripe_price_id or "-"]
        rows.append(row)
    return table_text(columns, rows)


def show_plans(state: CliState, output_format: str, *, hints: bool, detailed: bool = False) -> None:
    plans = state.plans()
    if output_format == "table":
        echo("Available Plans")
        echo(plans_table(plans, detailed=detailed))
        if hints:
            echo("")
            echo("Use 'nself tenant billing plan show <plan>' for detailed information")
            echo("Use 'nself tenant billing subscription upgrade <plan>' to change plans")
        return
    emit_records([plan_record(p) for p in plans], output_format, columns=PLAN_COLUMNS)


def plan_details(plan: Plan) -> str:
    lines = [f"Plan Details: {plan.name}"]
    for service in SERVICE_NAMES:
        quota = plan.quota_for(service)
        limit = "unlimited" if quota.limit is None else plain_number(quota.limit)
        lines.append(f"  {service:<10} : {limit} {unit_of(service)}")
    if plan.is_custom:
        lines.append("Price: Custom")
    else:
        lines.append(
            f"Price: {format_price(plan.price_monthly)}/month, "
            f"{format_price(plan.price_yearly)}/year"
        )
    modes = sorted({quota.mode.value for quota in plan.quotas})
    if modes:
        lines.append(f"Enforcement: {', '.join(modes)}")
    return "\n".join(lines)


def emit_plan(plan: Plan, output_format: str) -> None:
    if output_format == "table":
        echo(plan_details(plan))
    elif output_format == "json":
        emit_records([plan_record(plan)], "json", columns=PLAN_COLUMNS)
    else:
        columns = ("plan", "service", "limit", "unit", "mode", "overage_price")
        rows = [
            {
                "plan": plan.name,
                "service": s,
                "limit": plan.quota_for(s).limit,
                "unit": unit_of(s),
                "mode": plan.quota_for(s).mode.value,
                "overage_price": plan.quota_for(s).overage_price,
            }
            for s in SERVICE_NAMES
        ]
        emit_records(rows, "csv", columns=columns)


@click.group("plan", cls=AliasedGroup, aliases={"ls": "list"})
def plan_group() -> None:
    """Billing plans and their quotas."""


@plan_group.command("list")
@click.option("--detailed", is_flag=True, help="Also show yearly prices and provider price ids.")
@format_option()
@pass_state
def plan_list(state: CliState, detailed: bool, output_format: str) -> None:
    """List all available billing plans."""
    show_plans(state, output_format, hints=True, detailed=detailed)


@plan_group.command("show")
@click.argument("plan_name")
@format_option()
@pass_state
def plan_show(state: CliState, plan_name: str, output_format: str) -> None:
    """Show a plan's quotas and prices."""
    emit_plan(state.plan(plan_name), output_format)


@plan_group.command("compare")
@format_option()
@pass_state
def plan_compare(state: CliState, output_format: str) -> None:
    """Compare all plans side by side."""
    plans = state.plans()
    if output_format != "table":
        records = [
            {"service": s, "unit": unit_of(s), **{p.name: p.quota_for(s).limit for p in plans}}
            for s in SERVICE_NAMES
        ]
        emit_records(records, output_format, columns=("service", "unit", *[p.name for p in plans]))
        return
    rows = [["Price/Month", *[format_price(p.price_monthly) for p in plans]]]
    for service in SERVICE_NAMES:
        rows.append(
            [
                f"{service} ({unit_of(service)})",
                *[human_limit(service, p.quota_for(service).limit) for p in plans],
            ]
        )
    rows.append(
        ["Mode", *[", ".join(sorted({q.mode.value for q in p.quotas})) or "-" for p in plans]]
    )
    echo("Plan Comparison")
    echo(table_text(["Service", *[p.display_name for p in plans]], rows))


@plan_group.command("current")
@format_option()
@pass_state
def plan_current(state: CliState, output_format: str) -> None:
    """Show the current customer's plan."""
    plan = state.read(lambda quick: quick.current_plan(), lambda b: b.plans.current(b.customer_id))
    emit_plan(plan, output_format)


COMMANDS = [plan_group]
