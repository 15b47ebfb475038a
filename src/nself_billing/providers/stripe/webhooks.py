"""Stripe webhooks: the signature check of a delivery, the endpoints and recent events of the
account, and the objects an event names, read again from Stripe (an event's payload is a
snapshot of when it was made; the object now is the truth)."""

from __future__ import annotations

import json
from typing import Any

from ...errors import BadSignature, ConfigError, InvalidInput
from ...settings import Secret
from ..port import RemoteInvoice, RemotePaymentMethod, RemoteSubscription
from .client import StripeClientBase
from .mapping import invoice_from, is_ours, payment_method_from, subscription_from

#: Stripe's own default: a signature older than five minutes is refused (replay protection)
SIGNATURE_TOLERANCE_SECONDS = 300


def preload_sdk() -> None:
    """Import the SDK (~0.4 s of CPU) before the first webhook delivery needs it."""
    import stripe  # noqa: F401


def sign_event(payload: str, secret: str) -> str:
    """A ``Stripe-Signature`` header for ``payload``, by the SDK's own signing helper."""
    import stripe

    return str(stripe.WebhookSignature.generate_signature_header(payload, secret))


def verify_event(
    payload: bytes, sig_header: str | None, secret: Secret | str | None
) -> dict[str, Any]:
    """The event as a dict, after checking ``Stripe-Signature`` with the SDK's own helper
    (HMAC-SHA256 over ``t.payload``, timestamp within 300 seconds)."""
    import stripe

    key = secret.reveal() if isinstance(secret, Secret) else secret
    if not key:
        raise ConfigError("STRIPE_WEBHOOK_SECRET is not set: cannot verify webhook signatures")
    try:
        stripe.WebhookSignature.verify_header(payload, sig_header, key, SIGNATURE_TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as error:
        reason = str(getattr(error, "user_message", None) or error).splitlines()[0]
        if "tolerance" in reason.lower():
            reason = "timestamp outside the tolerance zone"
        elif "No signatures found matching" in reason:
            reason = "no signature matches the payload"
        raise BadSignature(f"Invalid Stripe signature: {reason}") from None
    try:
        event = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("Invalid webhook payload: not JSON") from None
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise InvalidInput("Invalid webhook payload: not a Stripe event")
    return event


class StripeEventFormat:
    """Stripe's webhook events as the port's values (``WebhookFormat``): the SDK's signature
    check and the adapter's object mapping, for the services that apply events."""

    def verify(
        self, payload: bytes, sig_header: str | None, secret: Secret | str | None
    ) -> dict[str, Any]:
        return verify_event(payload, sig_header, secret)

    def is_ours(self, obj: dict[str, Any]) -> bool:
        return is_ours(obj)

    def subscription(self, obj: dict[str, Any]) -> RemoteSubscription:
        return subscription_from(obj)

    def invoice(self, obj: dict[str, Any]) -> RemoteInvoice:
        return invoice_from(obj)

    def payment_method(self, obj: dict[str, Any]) -> RemotePaymentMethod:
        return payment_method_from(obj, None)


class StripeWebhooks(StripeClientBase):
    def list_webhook_endpoints(self) -> list[dict[str, Any]]:
        page = self._get(lambda: self.client.v1.webhook_endpoints.list({"limit": 100}))
        return [
            {
                "id": e.get("id"),
                "url": e.get("url"),
                "status": e.get("status"),
                "enabled_events": list(e.get("enabled_events") or []),
            }
            for e in page.get("data", [])
        ]

    def list_events(self, *, limit: int = 10) -> list[dict[str, Any]]:
        page = self._get(lambda: self.client.v1.events.list({"limit": max(1, min(limit, 100))}))
        return list(page.get("data", []))

    def fetch_object(self, object_type: str, object_id: str) -> dict[str, Any] | None:
        """The current state of a subscription or an invoice an event names (None for other
        types: their payload is applied as delivered)."""
        if object_type == "subscription":
            return self._get(lambda: self.client.v1.subscriptions.retrieve(object_id))
        if object_type == "invoice":
            return self._get(lambda: self.client.v1.invoices.retrieve(object_id))
        return None
