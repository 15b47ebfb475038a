"""Stripe webhook events: verify, store once, apply to the local mirror.

The HTTP receiver (``POST /api/webhooks/stripe``) calls ``verify_and_parse`` then
``apply_stripe_event`` and answers 2xx once the latter returned: by then the event is committed
to ``billing_webhook_events``. Usable without HTTP (``webhook test`` and tests call it directly).

Rules:
- an event id is applied once; a duplicate delivery is acknowledged and ignored;
- Stripe does not deliver in order: each object keeps the ``created`` time of the newest event
  applied to it (``billing_stripe_object_state``), and an older event is stored but not applied
  (``stale``), so it never rolls a newer state back;
- an event whose object cannot be applied is stored as ``failed`` with the reason and
  acknowledged (Stripe's retries would fail the same way); ``webhook events`` shows it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ...errors import BillingError, ConfigError, InvalidInput
from ...providers.port import WebhookFormat
from ...settings import Secret
from ...store import stripe_mirror as mirror
from ...store import webhook_events as received
from ...store.db import Connection
from .. import events
from ..context import Context

PROCESSED, DUPLICATE, STALE, IGNORED, FAILED, TEST = (
    "processed",
    "duplicate",
    "stale",
    "ignored",
    "failed",
    "test",
)
#: id prefix of the events ``webhook test`` sends: verified and stored, never applied
TEST_EVENT_PREFIX = "evt_nself_test_"

HANDLED_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.created",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.payment_action_required",
    "invoice.payment_succeeded",
    "invoice.voided",
    "invoice.marked_uncollectible",
    "customer.updated",
    "payment_method.attached",
    "payment_method.detached",
)


def verify_and_parse(
    payload: bytes,
    sig_header: str | None,
    secret: Secret | str | None,
    *,
    webhooks: WebhookFormat,
) -> dict[str, Any]:
    """The verified event (the check itself lives in the adapter: ``webhooks``, the context's
    ``webhook_format()``)."""
    return webhooks.verify(payload, sig_header, secret)


def webhook_format(ctx: Context) -> WebhookFormat:
    """The adapter's reading of the provider's events, as bootstrap.py set it."""
    if ctx.webhook_format is None:
        raise ConfigError("No webhook format is configured: cannot read webhook events")
    return ctx.webhook_format()


_Handler = Callable[[WebhookFormat, Connection, dict[str, Any], datetime, datetime], None]


class _NotApplied(Exception):
    """Leaves the transaction of an event whose handler failed (rolled back), carrying why."""


class _Duplicate(Exception):
    """Leaves (rolls back) the transaction of a delivery whose event was stored before."""


def apply_stripe_event(ctx: Context, event: dict[str, Any], *, payload: str | None = None) -> str:
    """Store and apply one event in one transaction. Returns ``processed``, ``duplicate``,
    ``stale``, ``ignored`` (a type we do not mirror), ``failed`` or ``test`` (a
    ``webhook test`` event: stored, not applied). ``payload`` is the event as received (the
    verified body), stored as is; by default the event is serialized again.

    The event row is inserted last, with its outcome, in the transaction that applied it: one
    statement fewer than inserting it first and updating its status. Its unique id still makes
    the event apply once: a concurrent or later duplicate finds the row (PostgreSQL waits for the
    first delivery's commit on the unique index) and rolls back whatever it applied. A handler
    that fails rolls its transaction back, and the event is then stored as ``failed``."""
    event_id = str(event.get("id") or "")
    event_type = str(event.get("type") or "")
    if not event_id or not event_type:
        raise InvalidInput("Invalid webhook payload: not a Stripe event")
    created = _event_time(event)
    now = ctx.clock()
    row: dict[str, Any] = dict(
        event_id=event_id,
        type_=event_type,
        api_version=event.get("api_version"),
        created=created,
        payload=payload if payload is not None else json.dumps(event, separators=(",", ":")),
        now=now,
    )
    handler = _HANDLERS.get(event_type)
    order_time = created
    if handler in (_subscription, _invoice) and not event_id.startswith(TEST_EVENT_PREFIX):
        current = _read_again(ctx, event)
        if current is not None:
            # the object as it is now: newer than any event made before this read
            event = {**event, "data": {**(event.get("data") or {}), "object": current}}
            order_time = max(created, now)
    if event_id.startswith(TEST_EVENT_PREFIX) or handler is None:
        outcome = TEST if event_id.startswith(TEST_EVENT_PREFIX) else IGNORED
        with ctx.db.write() as conn:
            stored = received.store_event(conn, status=outcome, **row)
        return outcome if stored else DUPLICATE
    try:
        with ctx.db.write() as conn:
            outcome = _apply(webhook_format(ctx), conn, handler, event, order_time, now)
            if not received.store_event(conn, status=outcome, **row):
                raise _Duplicate  # rolls back what this delivery applied
            if outcome == PROCESSED:
                events.stripe_change(ctx, conn, event_type, event)
    except _Duplicate:
        return DUPLICATE
    except _NotApplied as failure:
        reason = str(failure)
        ctx.log.warning("stripe event %s (%s) not applied: %s", event_id, event_type, reason)
        with ctx.db.write() as conn:
            stored = received.store_event(conn, status=FAILED, error=reason, **row)
        return FAILED if stored else DUPLICATE
    ctx.log.info("stripe event %s (%s): %s", event_id, event_type, outcome)
    return outcome


def _apply(
    webhooks: WebhookFormat,
    conn: Connection,
    handler: _Handler,
    event: dict[str, Any],
    created: datetime,
    now: datetime,
) -> str:
    obj = (event.get("data") or {}).get("object") or {}
    try:
        if not received.advance_object(
            conn,
            object_id=str(obj["id"]),
            object_type=str(obj.get("object") or event["type"]),
            created=created,
            event_id=str(event["id"]),
        ):
            return STALE
        handler(webhooks, conn, obj, created, now)
    except (BillingError, KeyError, TypeError, ValueError) as error:
        raise _NotApplied(_first_line(error)) from error
    return PROCESSED


def _read_again(ctx: Context, event: dict[str, Any]) -> dict[str, Any] | None:
    """The subscription or invoice an event names, read from Stripe now (None with a provider
    that cannot, or when the read fails: the payload is applied as delivered)."""
    fetch = getattr(ctx.provider, "fetch_object", None)
    obj = (event.get("data") or {}).get("object") or {}
    if fetch is None or not obj.get("id"):
        return None
    try:
        found = fetch(str(obj.get("object") or ""), str(obj["id"]))
    except BillingError as error:
        ctx.log.warning("stripe event %s: %s not read again: %s", event.get("id"), obj["id"], error)
        return None
    return found if isinstance(found, dict) else None


def _event_time(event: dict[str, Any]) -> datetime:
    created = event.get("created")
    if isinstance(created, int | float):
        return datetime.fromtimestamp(int(created), UTC)
    raise InvalidInput("Invalid webhook payload: the event has no created time")


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _customer_of(obj: dict[str, Any]) -> str:
    customer = obj.get("customer")
    return str(customer.get("id") if isinstance(customer, dict) else customer)


def _subscription(
    webhooks: WebhookFormat, conn: Connection, obj: dict[str, Any], created: datetime, now: datetime
) -> None:
    # another integration's subscription in a shared account is not ours to mirror
    if webhooks.is_ours(obj) or mirror.customer_known(conn, _customer_of(obj)):
        mirror.upsert_subscription(conn, webhooks.subscription(obj), provider_time=created, now=now)


def _invoice(
    webhooks: WebhookFormat, conn: Connection, obj: dict[str, Any], created: datetime, now: datetime
) -> None:
    if mirror.customer_known(conn, _customer_of(obj)):
        mirror.upsert_invoice(conn, webhooks.invoice(obj), provider_time=created, now=now)


def _customer(
    webhooks: WebhookFormat, conn: Connection, obj: dict[str, Any], created: datetime, now: datetime
) -> None:
    customer_id = str(obj["id"])
    if not (webhooks.is_ours(obj) or mirror.customer_known(conn, customer_id)):
        return
    mirror.upsert_customer(
        conn,
        customer_id,
        email=obj.get("email"),
        name=obj.get("name"),
        phone=obj.get("phone"),
        now=now,
    )
    default = (obj.get("invoice_settings") or {}).get("default_payment_method")
    if isinstance(default, dict):
        default = default.get("id")
    mirror.set_default_payment_method(conn, customer_id, default)


def _pm_attached(
    webhooks: WebhookFormat, conn: Connection, obj: dict[str, Any], created: datetime, now: datetime
) -> None:
    method = webhooks.payment_method(obj)
    if not method.customer_id:
        raise InvalidInput(f"payment method {method.payment_method_id} has no customer")
    if not mirror.customer_known(conn, method.customer_id):
        return
    mirror.upsert_payment_method(conn, method, method.customer_id, now=now)


def _pm_detached(
    webhooks: WebhookFormat, conn: Connection, obj: dict[str, Any], created: datetime, now: datetime
) -> None:
    mirror.detach_payment_method(conn, str(obj["id"]), at=created)


_HANDLERS: dict[str, _Handler] = {
    "customer.subscription.created": _subscription,
    "customer.subscription.updated": _subscription,
    "customer.subscription.deleted": _subscription,
    "invoice.created": _invoice,
    "invoice.finalized": _invoice,
    "invoice.paid": _invoice,
    "invoice.payment_failed": _invoice,
    "invoice.payment_action_required": _invoice,
    "invoice.payment_succeeded": _invoice,
    "invoice.voided": _invoice,
    "invoice.marked_uncollectible": _invoice,
    "customer.updated": _customer,
    "payment_method.attached": _pm_attached,
    "payment_method.detached": _pm_detached,
}
