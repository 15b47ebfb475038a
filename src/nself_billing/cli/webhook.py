"""``webhook list|events|test``: Stripe webhook endpoints, recent events, a signed test."""

from __future__ import annotations

import click

from ..errors import ProviderError
from ..render.formats import json_text
from ..render.stripe import NO_SECRET_WARNING, webhook_endpoint_lines
from ..settings import DEFAULT_WEBHOOK_URL
from .output import echo, echo_lines, format_option
from .state import CliState, pass_state


@click.group("webhook")
def webhook_group() -> None:
    """Stripe webhooks: endpoints, recent events, a signed test delivery."""


@webhook_group.command("list")
@format_option(choices=("table", "json"))
@pass_state
def webhook_list(state: CliState, output_format: str) -> None:
    """List the webhook endpoints configured in Stripe."""
    endpoints = state.billing.stripe.webhook_endpoints()
    if output_format == "json":
        echo(json_text(endpoints))
        return
    echo_lines(webhook_endpoint_lines(endpoints))


@webhook_group.command("events")
@click.argument("limit", type=click.IntRange(1, 100), default=10, required=False)
@pass_state
def webhook_events(state: CliState, limit: int) -> None:
    """Print the most recent Stripe events as raw JSON (default 10)."""
    echo(json_text(state.billing.stripe.webhook_events(limit)))


@webhook_group.command("test")
@click.argument("event_type", default="customer.updated", required=False)
@click.option(
    "--url",
    default=DEFAULT_WEBHOOK_URL,
    show_default=True,
    help="Receiver to send the signed test event to.",
)
@pass_state
def webhook_test(state: CliState, event_type: str, url: str) -> None:
    """Send a correctly signed sample event to the webhook receiver."""
    service = state.billing.stripe
    echo("Testing webhook endpoint")
    echo(f"Webhook URL: {service.public_webhook_url() or url}")
    echo("Configure this URL in your Stripe Dashboard")
    if state.billing.settings.stripe_webhook_secret is None:
        click.echo(NO_SECRET_WARNING, err=True)
        return
    result = service.webhook_test(event_type, url=url)
    echo(f"Sent {result.event_type} test event {result.event_id} to {result.url}")
    echo(f"Receiver answered: HTTP {result.status} {result.body}".rstrip())
    if not 200 <= result.status < 300:
        raise ProviderError(f"Webhook receiver refused the test event (HTTP {result.status})")


COMMANDS = [webhook_group]
