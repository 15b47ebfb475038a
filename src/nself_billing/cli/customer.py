"""``customer show|info|update|create|portal``."""

from __future__ import annotations

from typing import Any

import click

from ..domain.customers import Customer
from .aliases import AliasedGroup
from .render import echo, emit_records, format_option, table_text
from .state import CliState, pass_state
from .subscription import echo_started

CUSTOMER_COLUMNS = ("customer_id", "name", "email", "phone", "project_name", "created_at")


def customer_record(customer: Customer) -> dict[str, Any]:
    return {c: getattr(customer, c) for c in CUSTOMER_COLUMNS}


def customer_text(customer: Customer) -> str:
    lines = [
        f"Customer ID: {customer.customer_id}",
        f"Name: {customer.name or '-'}",
        f"Email: {customer.email or '-'}",
    ]
    if customer.phone:
        lines.append(f"Phone: {customer.phone}")
    if customer.project_name:
        lines.append(f"Project: {customer.project_name}")
    created = customer.created_at.strftime("%Y-%m-%d") if customer.created_at else "-"
    lines.append(f"Created: {created}")
    return "\n".join(lines)


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
    entries = state.billing.customers.entries()
    records = [
        customer_record(e.customer)
        | {
            "plan": e.subscription.plan_name if e.subscription else None,
            "status": e.subscription.status if e.subscription else None,
        }
        for e in entries
    ]
    if output_format != "table":
        emit_records(records, output_format, columns=(*CUSTOMER_COLUMNS, "plan", "status"))
        return
    if not records:
        echo("No customers (create one: nself tenant billing customer create)")
        return
    rows = [
        [
            r["customer_id"],
            r["name"] or "-",
            r["email"] or "-",
            r["plan"] or "-",
            r["status"] or "-",
            r["created_at"].strftime("%Y-%m-%d") if r["created_at"] else "-",
        ]
        for r in records
    ]
    echo(table_text(("Customer ID", "Name", "Email", "Plan", "Status", "Created"), rows))


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
    echo("Customer Portal URL:")
    echo(link.url)
    if link.expires_at is None:
        echo("Portal session created")
    else:
        echo(f"Portal session created (expires {link.expires_at:%Y-%m-%d %H:%M} UTC)")


COMMANDS = [customer_group]
