"""``subscription show|current|start|plans|upgrade|downgrade|cancel|reactivate``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..domain.money import format_money
from ..render.subscriptions import (
    SUBSCRIPTION_COLUMNS,
    closed_first_lines,
    subscription_record,
    subscription_text,
)
from .aliases import AliasedGroup
from .catalog import show_plans
from .output import echo, emit_records, format_option
from .state import CliState, pass_state

if TYPE_CHECKING:
    from ..domain.subscriptions import Subscription
    from ..services.subscriptions import PlanChange


def echo_closed_first(change: PlanChange) -> None:
    for line in closed_first_lines(change):
        echo(line)


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
    """The started subscription, and where to pay when the first payment needs the customer
    (Stripe leaves such a subscription ``incomplete`` until its first invoice is paid)."""
    echo(
        f"Subscription started: {subscription.subscription_id} ({subscription.plan_name}, "
        f"{subscription.status})"
    )
    if subscription.status == "incomplete":
        url = state.billing.stripe.payment_url(subscription.customer_id)
        echo(f"Payment needs the customer: {url}" if url else "Payment pending")
        echo("Quota limits: free plan until the first invoice is paid")


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
    echo_closed_first(change)
    echo(
        f"Subscription upgraded: {change.previous_plan} -> {change.subscription.plan_name} "
        "(effective immediately)"
    )
    if change.invoice is not None:
        echo(
            f"Prorated charge: {format_money(change.invoice.total)} "
            f"(invoice {change.invoice.invoice_id}, {change.invoice.status})"
        )
    elif change.provider is not None:
        echo(
            f"Prorated charge: invoiced and charged now by {change.provider.capitalize()} "
            "(see: nself tenant billing invoice list)"
        )
    else:
        echo("Prorated charge: none")
    echo(f"Quota limits: {change.subscription.plan_name} plan, from now")


@subscription_group.command("downgrade")
@click.argument("plan_name")
@pass_state
def subscription_downgrade(state: CliState, plan_name: str) -> None:
    """Schedule a lower plan for the end of the current period (no charge)."""
    billing = state.billing
    change = billing.subscriptions.downgrade(billing.customer_id, plan_name)
    echo_closed_first(change)
    subscription = change.subscription
    echo(
        f"Downgrade scheduled: {change.previous_plan} -> {subscription.scheduled_plan_name} "
        f"on {subscription.period.end:%Y-%m-%d}"
    )
    echo(f"The {change.previous_plan} plan stays active until then; no charge now.")


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
    echo_closed_first(change)
    subscription = change.subscription
    if immediate:
        echo(f"Subscription canceled immediately: {subscription.subscription_id}")
        if change.invoice is not None:
            echo(
                f"Final invoice: {change.invoice.invoice_id} "
                f"{format_money(change.invoice.total)} ({change.invoice.status})"
            )
        elif change.provider is not None:
            echo(
                f"Final invoice: by {change.provider.capitalize()}, if any "
                "(see: nself tenant billing invoice list)"
            )
        echo("Access revoked; no refunds are issued. This cannot be reactivated.")
        return
    echo(f"Subscription will cancel at period end: {subscription.period.end:%Y-%m-%d}")
    echo(
        "Access continues until then; reactivate with "
        "'nself tenant billing subscription reactivate'."
    )


@subscription_group.command("reactivate")
@pass_state
def subscription_reactivate(state: CliState) -> None:
    """Undo a cancellation scheduled for the period end."""
    billing = state.billing
    change = billing.subscriptions.reactivate(billing.customer_id)
    echo_closed_first(change)
    echo(
        f"Subscription reactivated: {change.subscription.subscription_id} "
        f"(continues on {change.subscription.plan_name})"
    )


COMMANDS = [subscription_group]
