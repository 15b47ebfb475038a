"""``POST /api/webhooks/stripe``: verified, stored once, acknowledged after the commit."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ...actor import ACTOR
from ...errors import BillingError
from ...services.stripe.billing import WEBHOOK_PATH
from ...services.webhook_inbox import MAX_PAYLOAD_BYTES
from ..auth import get_billing
from ..body import read_limited
from ..metrics import WEBHOOKS
from ..threads import in_thread

router = APIRouter(tags=["webhooks"])


@router.post(
    WEBHOOK_PATH,
    summary="Stripe webhook receiver",
    description="Verifies `Stripe-Signature` against `STRIPE_WEBHOOK_SECRET` (HMAC-SHA256, "
    "5-minute tolerance, any of several v1 signatures). Each event is stored once "
    "by id before the 200; a duplicate delivery answers 200 and changes nothing.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
    responses={
        200: {"description": "Stored (or a duplicate)"},
        400: {"description": "Bad or stale signature, or not an event; nothing stored"},
        413: {"description": "Body too large"},
        503: {"description": "STRIPE_WEBHOOK_SECRET is not set"},
    },
)
async def stripe_webhook(request: Request) -> JSONResponse:
    payload = await read_limited(request, MAX_PAYLOAD_BYTES)
    signature = request.headers.get("stripe-signature")
    inbox = get_billing(request).webhook_inbox
    ACTOR.set("stripe")
    try:
        received = await in_thread(request, inbox.receive_stripe, payload, signature)
    except BillingError:
        WEBHOOKS.labels("rejected").inc()
        raise
    WEBHOOKS.labels("duplicate" if received.duplicate else str(received.status)).inc()
    return JSONResponse(
        {
            "received": True,
            "id": received.event_id,
            "type": received.type,
            "duplicate": received.duplicate,
            "status": received.status,
        }
    )
