"""``notify``: outgoing webhooks (signed notifications) and email.

``notify endpoint add|list|remove|disable|enable``, ``notify test [EVENT]``,
``notify deliveries [--status failed]``, ``notify retry ID``, ``notify send`` (for cron),
``notify email test ADDRESS``.
"""

from __future__ import annotations

import click

from ..render.notify import (
    DELIVERY_COLUMNS,
    ENDPOINT_COLUMNS,
    deliveries_table,
    delivery_record,
    endpoint_record,
    endpoints_table,
    send_summary,
)
from .aliases import AliasedGroup
from .output import echo, emit_records, format_option
from .state import CliState, pass_state


@click.group("notify", cls=AliasedGroup)
def notify_group() -> None:
    """Notifications: signed webhooks to your endpoints, and email receipts."""


@notify_group.group("endpoint", cls=AliasedGroup, aliases={"ls": "list", "rm": "remove"})
def endpoint_group() -> None:
    """Endpoints that receive signed notifications."""


@endpoint_group.command("add")
@click.argument("url")
@click.option(
    "--events",
    metavar="LIST",
    help="Comma-separated event types to send (default: every event, '*').",
)
@click.option("--description", help="A label to recognise the endpoint by.")
@pass_state
def endpoint_add(state: CliState, url: str, events: str | None, description: str | None) -> None:
    """Add an endpoint and print its signing secret once."""
    from ..services.notify import parse_events

    made = state.billing.notify.add_endpoint(
        url, events=parse_events(events), description=description
    )
    echo(f"Notification endpoint added: {made.endpoint.endpoint_id} ({made.endpoint.url})")
    echo(made.secret)
    click.echo("Store this signing secret now: it is not shown again.", err=True)


@endpoint_group.command("list")
@format_option()
@pass_state
def endpoint_list(state: CliState, output_format: str) -> None:
    """List endpoints (never their secrets)."""
    endpoints = state.billing.notify.endpoints()
    records = [endpoint_record(e) for e in endpoints]
    table = endpoints_table(endpoints) if output_format == "table" else None
    emit_records(records, output_format, columns=ENDPOINT_COLUMNS, table=table)


@endpoint_group.command("remove")
@click.argument("endpoint_id")
@pass_state
def endpoint_remove(state: CliState, endpoint_id: str) -> None:
    """Remove an endpoint (its pending deliveries fail)."""
    state.billing.notify.remove_endpoint(endpoint_id)
    echo(f"Notification endpoint removed: {endpoint_id}")


@endpoint_group.command("disable")
@click.argument("endpoint_id")
@pass_state
def endpoint_disable(state: CliState, endpoint_id: str) -> None:
    """Stop queueing and sending notifications to an endpoint."""
    state.billing.notify.set_enabled(endpoint_id, False, reason="disabled by hand")
    echo(f"Notification endpoint disabled: {endpoint_id}")


@endpoint_group.command("enable")
@click.argument("endpoint_id")
@pass_state
def endpoint_enable(state: CliState, endpoint_id: str) -> None:
    """Queue and send notifications to an endpoint again."""
    state.billing.notify.set_enabled(endpoint_id, True)
    echo(f"Notification endpoint enabled: {endpoint_id}")


@notify_group.command("test")
@click.argument("event", required=False, default="notification.test")
@pass_state
def notify_test(state: CliState, event: str) -> None:
    """Send a sample EVENT (default notification.test) to the endpoints that want it."""
    billing = state.billing
    event_id = billing.notify.test(event)
    result = billing.notify.send()
    echo(f"Test event {event_id} ({event}) queued")
    echo(send_summary(result))
    if result.retried or result.failed:
        raise click.ClickException(
            "Test notification not delivered everywhere (see: notify deliveries --status failed)"
        )


@notify_group.command("deliveries")
@click.option(
    "--status",
    type=click.Choice(["pending", "sent", "failed"]),
    help="Only deliveries in this state.",
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@format_option()
@pass_state
def notify_deliveries(state: CliState, status: str | None, limit: int, output_format: str) -> None:
    """Recent deliveries, newest first."""
    deliveries = state.billing.notify.deliveries(status=status, limit=limit)
    records = [delivery_record(d) for d in deliveries]
    table = deliveries_table(deliveries) if output_format == "table" else None
    emit_records(records, output_format, columns=DELIVERY_COLUMNS, table=table)


@notify_group.command("retry")
@click.argument("delivery_id", type=int)
@pass_state
def notify_retry(state: CliState, delivery_id: int) -> None:
    """Queue a failed delivery again (its endpoint is enabled again) and send what is due."""
    billing = state.billing
    billing.notify.retry(delivery_id)
    echo(f"Delivery {delivery_id} queued again")
    echo(send_summary(billing.notify.send()))


@notify_group.command("send")
@pass_state
def notify_send(state: CliState) -> None:
    """Deliver the notifications that are due (for cron; `serve` does it in the background)."""
    echo(send_summary(state.billing.notify.send()))


@notify_group.group("email", cls=AliasedGroup)
def email_group() -> None:
    """Email through SMTP_HOST (receipts, invoices, quota alerts)."""


@email_group.command("test")
@click.argument("address")
@pass_state
def email_test(state: CliState, address: str) -> None:
    """Send a test email to ADDRESS now (checks the SMTP_* settings)."""
    state.billing.notify.email_test(address)
    echo(f"Test email sent to {address}")


COMMANDS = [notify_group]
