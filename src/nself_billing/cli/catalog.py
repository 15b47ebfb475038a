"""``plan list|show|compare|current`` (``show_plans`` is shared with ``subscription plans``)."""

from __future__ import annotations

import click

from ..domain.plans import Plan
from ..render.catalog import (
    PLAN_COLUMNS,
    PLAN_SERVICE_COLUMNS,
    compare_records,
    compare_table,
    plan_details,
    plan_record,
    plan_service_records,
    plans_table,
)
from .aliases import AliasedGroup
from .output import echo, emit_records, format_option
from .state import CliState, pass_state


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


def emit_plan(plan: Plan, output_format: str) -> None:
    if output_format == "table":
        echo(plan_details(plan))
    elif output_format == "json":
        emit_records([plan_record(plan)], "json", columns=PLAN_COLUMNS)
    else:
        emit_records(plan_service_records(plan), "csv", columns=PLAN_SERVICE_COLUMNS)


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
        records, columns = compare_records(plans)
        emit_records(records, output_format, columns=columns)
        return
    echo("Plan Comparison")
    echo(compare_table(plans))


@plan_group.command("current")
@format_option()
@pass_state
def plan_current(state: CliState, output_format: str) -> None:
    """Show the current customer's plan."""
    plan = state.read(lambda quick: quick.current_plan(), lambda b: b.plans.current(b.customer_id))
    emit_plan(plan, output_format)


COMMANDS = [plan_group]
