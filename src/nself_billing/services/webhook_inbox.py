"""Receiving Stripe webhooks over HTTP: a size limit and sanity checks around the Stripe event
handlers (``stripe.webhook_events``), which verify the signature, then store and apply each event in
one transaction. The caller answers 2xx only after ``receive_stripe`` returned, so an
acknowledged event is committed to ``billing_webhook_events``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import BadSignature, ConfigError, InvalidInput
from .context import Context
from .stripe.webhook_events import (
    DUPLICATE,
    apply_stripe_event,
    verify_and_parse,
    webhook_format,
)

#: largest body accepted (Stripe events are a few KB; the biggest stay well under this)
MAX_PAYLOAD_BYTES = 256 * 1024
#: 9999-01-01 in Unix seconds: an event "created" later cannot be a date
_LATEST_CREATED = 253_370_764_800


@dataclass(frozen=True)
class Received:
    event_id: str
    type: str
    #: True when this event id had been received before (nothing changed)
    duplicate: bool
    #: processed | stale | ignored | failed | test | duplicate (see stripe.webhook_events)
    status: str


def _check_event(event: dict[str, object]) -> tuple[str, str]:
    event_id, kind = event.get("id"), event.get("type")
    # PostgreSQL text cannot hold NUL; refuse it on both backends alike
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 255 or "\x00" in event_id:
        raise BadSignature("Invalid webhook payload: bad event id")
    if not isinstance(kind, str) or not 0 < len(kind) <= 100 or "\x00" in kind:
        raise BadSignature("Invalid webhook payload: bad event type")
    created = event.get("created")
    if (
        not isinstance(created, int | float)
        or isinstance(created, bool)
        or not 0 <= created < _LATEST_CREATED
    ):
        raise BadSignature("Invalid webhook payload: bad created time")
    return event_id, kind


class WebhookInbox:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def receive_stripe(self, payload: bytes, signature: str | None) -> Received:
        """Verify a Stripe delivery, then store and apply it once; a bad signature or body
        raises BadSignature and stores nothing."""
        secret = self._ctx.settings.stripe_webhook_secret
        if secret is None:
            raise ConfigError("STRIPE_WEBHOOK_SECRET is not set")
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise InvalidInput("Webhook body too large")
        try:
            event = verify_and_parse(payload, signature, secret, webhooks=webhook_format(self._ctx))
        except ConfigError:
            raise
        except InvalidInput as error:
            raise BadSignature(error.message) from None
        except (UnicodeDecodeError, RecursionError):
            raise BadSignature("Invalid webhook payload: not JSON") from None
        event_id, kind = _check_event(event)
        outcome = apply_stripe_event(self._ctx, event, payload=payload.decode("utf-8"))
        return Received(event_id, kind, outcome == DUPLICATE, outcome)

    def verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """Check ``Stripe-Signature`` against STRIPE_WEBHOOK_SECRET; the event as a dict."""
        return verify_and_parse(
            payload,
            signature,
            self._ctx.settings.stripe_webhook_secret,
            webhooks=webhook_format(self._ctx),
        )

    def apply(self, event: dict[str, Any]) -> str:
        """Store and apply a verified event once: ``processed``, ``duplicate``, ``stale``,
        ``ignored``, ``failed`` or ``test``."""
        return apply_stripe_event(self._ctx, event)
