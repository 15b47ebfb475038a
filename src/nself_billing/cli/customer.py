"""``customer show|info|update|create|portal``."""

from __future__ import annotations

import click

from ..render.customers import (
    CUSTOMER_COLUMNS,
    CUSTOMER_LIST_COLUMNS,
    customer_list_records,
    customer_list_table,
    customer_record,
    customer_text,
    portal_lines,
)
from .aliases import AliasedGroup
from .output import echo, echo_lines, emit_records, format_option
from .state import CliState, pass_state
from .subscription import echo_started


@click.group("customer", cls=AliasedGroup, aliases={"info": "show"})
def customer_group() -> None:
    """The current customer (tenant)."""


@customer_group.command("show")
@format_option()
@pass_state
def customer_show(state: CliState, output_format: str) -> None:
    """Show the current customer."""
    customer = state.read(lambda quick: quick.customer(), lambda b: b.customers.current())
    if output_format == "table":
        echo(customer_text(customer))
    else:
        emit_records([customer_record(customer)], output_format, columns=CUSTOMER_COLUMNS)


@customer_group.command("list")
@format_option()
@pass_state
def customer_list(state: CliState, output_format: str) -> None:
    """List every customer, with its plan and subscription status (choose one with
    --customer ID or NSELF_CUSTOMER_ID)."""
    records = customer_list_records(state.billing.customers.entries())
    table = customer_list_table(records) if output_format == "table" else None
    emit_records(records, output_format, columns=CUSTOMER_LIST_COLUMNS, table=table)


@customer_group.command("update")
@click.option("--email", help="New email address.")
@click.option("--name", help="New customer name.")
@click.option("--phone", help="New phone number.")
@pass_state
def customer_update(
    state: CliState, email: str | None, name: str | None, phone: str | None
) -> None:
    """Update the current customer's email, name or phone."""
    customer = state.billing.customers.update(email=email, name=name, phone=phone)
    echo(f"Customer updated: {customer.customer_id}")


@customer_group.command("create")
@click.option("--email", required=True, help="Email address.")
@click.option("--name", required=True, help="Customer name.")
@click.option("--phone", help="Phone number.")
@click.option("--id", "customer_id", help="Use this customer id instead of a generated one.")
@click.option("--plan", "plan_name", help="Start a subscription on this plan.")
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
def customer_create(
    state: CliState,
    email: str,
    name: str,
    phone: str | None,
    customer_id: str | None,
    plan_name: str | None,
    interval: str,
    trial_days: int,
) -> None:
    """Create a customer (not in the original tool; needed to start)."""
    billing = state.billing
    if plan_name:
        billing.plans.get(plan_name)
    customer = billing.customers.create(
        email=email, name=name, phone=phone, customer_id=customer_id
    )
    echo(f"Customer created: {customer.customer_id}")
    if plan_name:
        subscription = billing.subscriptions.start(
            customer.customer_id, plan_name, interval=interval, trial_days=trial_days
        )
        echo_started(state, subscription)


@customer_group.command("portal")
@pass_state
def customer_portal(state: CliState) -> None:
    """Print a customer portal URL (a signed, expiring link with the local provider, a Stripe
    Billing Portal session with Stripe)."""
    billing = state.billing
    link = billing.portal.link(billing.customer_id)
    echo_lines(portal_lines(link))


COMMANDS = [customer_group]
