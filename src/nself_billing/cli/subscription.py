"""``subscription show|current|plans``."""

from __future__ import annotations

from typing import Any

import click

from ..domain.subscriptions import Subscription
from .aliases import AliasedGroup
from .catalog import show_plans
from .render import echo, emit_records, format_option
from .state import CliState, pass_state

SUBSCRIPTION_COLUMNS = ("subscription_id", "customer_id", "plan_name", "status", "period_start",
                        "period_end", "cancel_at_period_end", "scheduled_plan_name", "trial_end")


def subscription_record(subscription: Subscription) -> dict[str, Any]:
    return {
        "subscription_id": subscription.subscription_id,
        "customer_id": subscription.customer_id,
        "plan_name": subscription.plan_name,
        "status": subscription.status,
        "period_start": subscription.period.start,
        "period_end": subscription.period.end,
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "scheduled_plan_name": subscription.scheduled_plan_name,
        "trial_end": subscription.trial_end,
    }


def subscription_text(subscription: Subscription) -> str:
    period = subscription.period
    lines = [
        "Current Subscription",
        f"Subscription ID: {subscription.subscription_id}",
        f"Plan: {subscription.plan_name}",
        f"Status: {subscription.status}",
        f"Current Period: {period.start:%Y-%m-%d} to {period.end:%Y-%m-%d}",
    ]
    if subscription.trial_end:
        lines.append(f"Trial Ends: {subscription.trial_end:%Y-%m-%d}")
    if subscription.scheduled_plan_name:
        lines.append(f"Scheduled Change: {subscription.scheduled_plan_name} "
                     f"on {period.end:%Y-%m-%d}")
    if subscription.cancel_at_period_end:
        lines.append(f"Cancels At: {period.end:%Y-%m-%d} (reactivate with "
                     "'nself tenant billing subscription reactivate')")
    return "\n".join(lines)


@click.group("subscription", cls=AliasedGroup, aliases={"current": "show"})
def subscription_group() -> None:
    """The current customer's subscription."""


@subscription_group.command("show")
@format_option()
@pass_state
def subscription_show(state: CliState, output_format: str) -> None:
    """Show the current subscription."""
    billing = state.billing
    subscription = billing.subscriptions.current(billing.customer_id)
    if output_format == "table":
        echo(subscription_text(subscription))
    else:
        emit_records([subscription_record(subscription)], output_format,
                     columns=SUBSCRIPTION_COLUMNS)


@subscription_group.command("plans")
@format_option()
@pass_state
def subscription_plans(state: CliState, output_format: str) -> None:
    """List all available billing plans."""
    show_plans(state, output_format, hints=False)


COMMANDS = [subscription_group]
