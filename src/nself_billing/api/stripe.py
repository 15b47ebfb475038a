"""The spec's Stripe functions of the webhook and plan areas, and the usage outbox, as
functions over the default ``Billing`` handle (see api.py). Those whose bash twin printed print
the same thing and return the data."""

from __future__ import annotations

import json
import sys
from typing import Any

from ..services.stripe.billing import CatalogEntry, WebhookTestResult
from ..services.stripe.usage_outbox import DrainResult, OutboxCounts, ReconcileLine
from ..settings import DEFAULT_WEBHOOK_URL
from .handle import default_billing

__all__ = [
    "stripe_apply_webhook_event",
    "stripe_plan_sync",
    "stripe_price_id",
    "stripe_reconcile",
    "stripe_usage_sync",
    "stripe_usage_sync_status",
    "stripe_verify_webhook",
    "stripe_webhook_events",
    "stripe_webhook_list",
    "stripe_webhook_test",
]


def stripe_webhook_list() -> list[dict[str, Any]]:
    """Print "Webhook Endpoints" and one URL a line (as ``webhook list``); return the endpoints
    (id, url, status, enabled_events)."""
    endpoints = default_billing().stripe.webhook_endpoints()
    print("Webhook Endpoints")
    for endpoint in endpoints:
        print(endpoint["url"])
    return endpoints


def stripe_webhook_events(limit: int = 10) -> list[dict[str, Any]]:
    """Print the ``limit`` most recent Stripe events as raw JSON and return them."""
    events = default_billing().stripe.webhook_events(limit)
    print(json.dumps(events, indent=2, default=str))
    return events


def stripe_webhook_test(
    event_type: str = "customer.updated", *, url: str = DEFAULT_WEBHOOK_URL
) -> WebhookTestResult | None:
    """Send a signed sample event to the receiver at ``url`` and return its answer. Without
    STRIPE_WEBHOOK_SECRET, as the spec's function: print its lines, warn on stderr that nothing
    was sent, and return None."""
    billing = default_billing()
    service = billing.stripe
    print("Testing webhook endpoint")
    print(f"Webhook URL: {service.public_webhook_url() or url}")
    print("Configure this URL in your Stripe Dashboard")
    if billing.settings.stripe_webhook_secret is None:
        from ..render.stripe import NO_SECRET_WARNING

        print(NO_SECRET_WARNING, file=sys.stderr)
        return None
    return service.webhook_test(event_type, url=url)


def stripe_verify_webhook(payload: bytes, sig_header: str | None) -> dict[str, Any]:
    """Check ``Stripe-Signature`` against STRIPE_WEBHOOK_SECRET; the event as a dict."""
    return default_billing().webhook_inbox.verify(payload, sig_header)


def stripe_apply_webhook_event(event: dict[str, Any]) -> str:
    """Store and apply a verified event once: ``processed``, ``duplicate``, ``stale``,
    ``ignored``, ``failed`` or ``test``."""
    return default_billing().webhook_inbox.apply(event)


def stripe_price_id(plan_name: str, interval: str = "month") -> str | None:
    """The Stripe price id of a plan (``month`` or ``year``) from the last plan sync."""
    return default_billing().stripe.price_id(plan_name, interval)


def stripe_plan_sync() -> list[CatalogEntry]:
    """Create or find Products, Prices and Meters for every plan (idempotent)."""
    return default_billing().stripe.plan_sync()


def stripe_usage_sync(max_events: int | None = None) -> DrainResult:
    """Send pending usage to Stripe's meters (``sync``)."""
    return default_billing().outbox.drain(max_events=max_events)


def stripe_usage_sync_status() -> OutboxCounts:
    """Pending, sent, failed and expired counts of the usage outbox (``sync --status``)."""
    return default_billing().outbox.status()


def stripe_reconcile(customer_id: str | None = None) -> list[ReconcileLine]:
    """Our per-period totals against Stripe's meter event summaries (``reconcile``)."""
    return default_billing().outbox.reconcile(customer_id)
