"""``subscription show|current|start|plans|upgrade|downgrade|cancel|reactivate``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..render.subscriptions import (
    SUBSCRIPTION_COLUMNS,
    cancel_lines,
    downgrade_lines,
    reactivate_lines,
    started_lines,
    subscription_record,
    subscription_text,
    upgrade_lines,
)
from .aliases import AliasedGroup
from .catalog import show_plans
from .output import echo, echo_lines, emit_records, format_option
from .state import CliState, pass_state

if TYPE_CHECKING:
    from ..domain.subscriptions import Subscription


@click.group("subscription", cls=AliasedGroup, aliases={"current": "show"})
def subscription_group() -> None:
    """The current customer's subscription."""


@subscription_group.command("show")
@format_option()
@pass_state
def subscription_show(state: CliState, output_format: str) -> None:
    """Show the current subscription."""
    subscription = state.read(
        lambda quick: quick.subscription(), lambda b: b.subscriptions.current(b.customer_id)
    )
    if output_format == "table":
        echo(subscription_text(subscription))
    else:
        emit_records(
            [subscription_record(subscription)], output_format, columns=SUBSCRIPTION_COLUMNS
        )


def echo_started(state: CliState, subscription: Subscription) -> None:
    url = (
        state.billing.stripe.payment_url(subscription.customer_id)
        if subscription.status == "incomplete"
        else None
    )
    echo_lines(started_lines(subscription, url))


@subscription_group.command("start")
@click.argument("plan_name")
@click.option(
    "--interval",
    type=click.Choice(["month", "year"]),
    default="month",
    show_default=True,
    help="Billing interval of the subscription.",
)
@click.option(
    "--trial-days",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Days of free trial before the first charge.",
)
@pass_state
def subscription_start(state: CliState, plan_name: str, interval: str, trial_days: int) -> None:
    """Start a subscription for the current customer (one created without a plan, or whose
    subscription ended)."""
    billing = state.billing
    subscription = billing.subscriptions.start(
        billing.customer_id, plan_name, interval=interval, trial_days=trial_days
    )
    echo_started(state, subscription)


@subscription_group.command("plans")
@format_option()
@pass_state
def subscription_plans(state: CliState, output_format: str) -> None:
    """List all available billing plans."""
    show_plans(state, output_format, hints=False)


@subscription_group.command("upgrade")
@click.argument("plan_name")
@pass_state
def subscription_upgrade(state: CliState, plan_name: str) -> None:
    """Upgrade to a higher plan now (prorated charge invoiced at once)."""
    billing = state.billing
    change = billing.subscriptions.upgrade(billing.customer_id, plan_name)
    echo_lines(upgrade_lines(change))


@subscription_group.command("downgrade")
@click.argument("plan_name")
@pass_state
def subscription_downgrade(state: CliState, plan_name: str) -> None:
    """Schedule a lower plan for the end of the current period (no charge)."""
    billing = state.billing
    change = billing.subscriptions.downgrade(billing.customer_id, plan_name)
    echo_lines(downgrade_lines(change))


@subscription_group.command("cancel")
@click.option(
    "--immediate",
    is_flag=True,
    help="Cancel now (final, not reactivatable) instead of at period end.",
)
@pass_state
def subscription_cancel(state: CliState, immediate: bool) -> None:
    """Cancel the subscription at period end (default) or immediately."""
    billing = state.billing
    change = billing.subscriptions.cancel(billing.customer_id, immediate=immediate)
    echo_lines(cancel_lines(change, immediate=immediate))


@subscription_group.command("reactivate")
@pass_state
def subscription_reactivate(state: CliState) -> None:
    """Undo a cancellation scheduled for the period end."""
    billing = state.billing
    change = billing.subscriptions.reactivate(billing.customer_id)
    echo_lines(reactivate_lines(change))


COMMANDS = [subscription_group]
