"""Receiving provider webhooks: verify, store once by event id, then apply.

The event is committed before the caller answers 2xx, so an acknowledged event is never lost;
applying it is a second step whose outcome is recorded on the row (``processed``, ``ignored``,
``failed``). A redelivery of an event that is stored but not yet applied (``received`` or
``failed``) tries to apply it again; a redelivery of an applied event changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from ..errors import ConfigError, InvalidInput
from ..store import webhook_inbox as store
from .context import Context

#: seconds a signature stays valid (Stripe's own default)
SIGNATURE_TOLERANCE = 300
#: largest body accepted (Stripe events are a few KB; the biggest stay well under this)
MAX_PAYLOAD_BYTES = 256 * 1024


class BadSignature(InvalidInput):
    """A missing, forged or stale ``Stripe-Signature``, or a body that is not an event."""


@dataclass(frozen=True)
class Received:
    event_id: str
    type: str
    #: True when this event id had been received before
    duplicate: bool
    #: the row's status after this delivery: received | processed | ignored | failed
    status: str


@dataclass(frozen=True)
class ParsedEvent:
    event_id: str
    type: str
    api_version: str | None
    created: datetime | None
    payload: str


def verify_stripe_signature(payload: bytes, signature: str | None, secret: str) -> None:
    import stripe

    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret,
                                              tolerance=SIGNATURE_TOLERANCE)
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        raise BadSignature("Invalid Stripe-Signature") from None


def parse_event(payload: bytes) -> ParsedEvent:
    try:
        text = payload.decode("utf-8")
        document = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadSignature("Invalid event: not JSON") from None
    if not isinstance(document, dict):
        raise BadSignature("Invalid event: not a JSON object")
    event_id, kind = document.get("id"), document.get("type")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 255 or "\x00" in event_id:
        raise BadSignature("Invalid event: no id")
    if not isinstance(kind, str) or not 0 < len(kind) <= 100 or "\x00" in kind:
        raise BadSignature("Invalid event: no type")
    created = document.get("created")
    when = None
    if isinstance(created, int) and not isinstance(created, bool):
        try:
            when = datetime.fromtimestamp(created, UTC)
        except (OverflowError, OSError, ValueError):
            when = None
    version = document.get("api_version")
    return ParsedEvent(event_id, kind, version if isinstance(version, str) else None, when,
                       text)


class WebhookInbox:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def receive_stripe(self, payload: bytes, signature: str | None) -> Received:
        """Verify a Stripe delivery, store it once, apply it; BadSignature stores nothing."""
        secret = self._ctx.settings.stripe_webhook_secret
        if secret is None:
            raise ConfigError("STRIPE_WEBHOOK_SECRET is not set")
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise InvalidInput("Webhook body too large")
        verify_stripe_signature(payload, signature, secret.reveal())
        event = parse_event(payload)
        now = self._ctx.clock()
        with self._ctx.db.write() as conn:
            stored = store.insert_once(conn, event_id=event.event_id, type=event.type,
                                       api_version=event.api_version, created=event.created,
                                       payload=event.payload, now=now)
            row = None if stored else store.get(conn, event.event_id)
        status = "received" if row is None else row.status
        if status in ("received", "failed"):
            status = self._apply(event)
        return Received(event.event_id, event.type, not stored, status)

    def _apply(self, event: ParsedEvent) -> str:
        """Apply a stored event to billing state (status stays ``received`` until the Stripe
        event handlers of issue 6 are wired in)."""
        del event
        return "received"

    def recent(self, limit: int = 10) -> list[store.StoredEvent]:
        with self._ctx.db.read() as conn:
            return store.recent(conn, limit)
