"""State changes, recorded once: the notification outbox and the audit log line.

A use case that changes state calls ``record(ctx, conn, type, ...)`` inside its write
transaction. That one call queues a delivery for every enabled endpoint that wants the event
(and an email when the event sends one) in the same transaction, so nothing is notified that
did not happen and nothing that happened is left unnotified, and it writes the audit line to
the billing log once the transaction commits (a change that rolls back is neither notified nor
logged). Delivery happens later (``services.notify``), never on the request path.

The envelope (``docs/NOTIFICATIONS.md``)::

    {"id": "evt_...", "object": "event", "version": 1, "type": "invoice.paid",
     "created": "2026-01-15T12:00:00Z", "customer": "cus_...", "data": {...}}
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..actor import ACTOR
from ..domain.humanize import plain_number
from ..store import customers as customer_store
from ..store import notify as store
from ..store.db import Connection, transaction_state
from .context import Context

ENVELOPE_VERSION = 1

#: every event type, in the order docs/NOTIFICATIONS.md lists them
EVENT_TYPES = (
    "customer.created",
    "customer.updated",
    "subscription.created",
    "subscription.updated",
    "subscription.cancelled",
    "subscription.reactivated",
    "invoice.created",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_failed",
    "quota.threshold",
    "quota.exceeded",
    "payment_method.attached",
    "payment_method.detached",
    "payment_method.default_set",
    "apikey.created",
    "apikey.revoked",
    "cycle.completed",
    "notification.test",
)
#: events that email the customer when SMTP is configured (quota.threshold only with
#: BILLING_EMAIL_QUOTA_ALERTS=1)
EMAIL_EVENTS = frozenset({"invoice.finalized", "invoice.paid", "quota.threshold"})


def new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex[:24]


def stable_event_id(*parts: str) -> str:
    """An event id derived from what identifies the event (the same in every process), for
    events that must be notified once however many times they are noticed."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return "evt_" + digest[:24]


def plain(value: Any) -> Any:
    """JSON-ready: money and quantities as decimal strings, times as ISO 8601 UTC."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(
    event_id: str, event_type: str, created: datetime, customer_id: str | None, data: Any
) -> str:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "version": ENVELOPE_VERSION,
            "type": event_type,
            "created": iso(created),
            "customer": customer_id,
            "data": plain(data),
        },
        separators=(",", ":"),
    )


def record(
    ctx: Context,
    conn: Connection,
    event_type: str,
    *,
    customer_id: str | None,
    data: Mapping[str, Any],
    event_id: str | None = None,
    level: int = logging.INFO,
) -> str:
    """Record one state change in ``conn``'s transaction: queue its notifications and log its
    audit line when the transaction commits. Returns the event id."""
    now = ctx.clock()
    event_id = event_id or new_event_id()
    body = envelope(event_id, event_type, now, customer_id, data)
    state = transaction_state(conn)
    wanted = state.cache.get("notify_endpoints")
    if wanted is None:
        wanted = state.cache["notify_endpoints"] = store.endpoints(conn, enabled_only=True)
    rows = [
        store.NewDelivery(event_id, event_type, customer_id, store.WEBHOOK, e.endpoint_id, body)
        for e in wanted
        if e.wants(event_type)
    ]
    address = _email_recipient(ctx, conn, event_type, customer_id)
    if address is not None:
        rows.append(
            store.NewDelivery(
                event_id, event_type, customer_id, store.EMAIL, f"email:{address}", body
            )
        )
    store.enqueue(conn, rows, now=now)
    line = {
        "event": event_type,
        "id": event_id,
        "actor": ACTOR.get(),
        "customer": customer_id,
        "data": plain(data),
    }
    state.after_commit.append(lambda: audit(ctx, line, level=level))
    return event_id


def audit(ctx: Context, line: Mapping[str, Any], *, level: int = logging.INFO) -> None:
    """One audit line in the billing log (``logfile.JsonLines`` writes the fields)."""
    ctx.log.log(level, "%s", line.get("event", "audit"), extra={"fields": dict(line)})


def _email_recipient(
    ctx: Context, conn: Connection, event_type: str, customer_id: str | None
) -> str | None:
    if ctx.settings.smtp is None or customer_id is None or event_type not in EMAIL_EVENTS:
        return None
    if event_type == "quota.threshold" and not ctx.settings.email_quota_alerts:
        return None
    return customer_store.email_of(conn, customer_id)


# --- the state changes of each area (one call per change in the use case) -----------------


def invoice_data(invoice: Any) -> dict[str, Any]:
    return {
        "invoice": invoice.invoice_id,
        "subscription": invoice.subscription_id,
        "kind": invoice.kind,
        "status": invoice.status,
        "currency": invoice.currency,
        "total": invoice.total,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
    }


def invoices_made(ctx: Context, conn: Connection, invoices: Any) -> None:
    """invoice.created then invoice.finalized for each invoice made (issued as final: open,
    or paid when it totals zero)."""
    for invoice in invoices:
        data = invoice_data(invoice)
        record(ctx, conn, "invoice.created", customer_id=invoice.customer_id, data=data)
        record(ctx, conn, "invoice.finalized", customer_id=invoice.customer_id, data=data)


def subscription_changed(
    ctx: Context,
    conn: Connection,
    event_type: str,
    subscription: Any,
    *,
    invoices: Any = (),
    **extra: Any,
) -> None:
    """A subscription event, preceded by the events of the invoices the change made."""
    invoices_made(ctx, conn, invoices)
    if invoices:
        extra["invoices"] = [i.invoice_id for i in invoices]
    data = subscription_data(subscription) | extra
    record(ctx, conn, event_type, customer_id=subscription.customer_id, data=data)


def subscription_data(subscription: Any) -> dict[str, Any]:
    return {
        "subscription": subscription.subscription_id,
        "plan": subscription.plan_name,
        "status": subscription.status,
        "interval": subscription.interval,
        "current_period_start": subscription.period.start,
        "current_period_end": subscription.period.end,
        "cancel_at_period_end": subscription.cancel_at_period_end,
    }


def payment_method_changed(ctx: Context, conn: Connection, event_type: str, method: Any) -> None:
    """Never the card number (it is not stored): brand, last four digits, expiry."""
    record(
        ctx,
        conn,
        event_type,
        customer_id=method.customer_id,
        data={
            "payment_method": method.payment_method_id,
            "type": method.type,
            "brand": method.brand,
            "last4": method.last4,
            "is_default": method.is_default,
        },
    )


#: Stripe's webhook events that change what we mirror, as our event types
STRIPE_EVENTS = {
    "customer.subscription.created": "subscription.created",
    "customer.subscription.updated": "subscription.updated",
    "customer.subscription.deleted": "subscription.cancelled",
    "invoice.created": "invoice.created",
    "invoice.finalized": "invoice.finalized",
    "invoice.paid": "invoice.paid",
    "invoice.payment_failed": "invoice.payment_failed",
}


def stripe_change(
    ctx: Context, conn: Connection, stripe_type: str, event: Mapping[str, Any]
) -> None:
    """With the Stripe provider, a subscription or invoice changes when Stripe's webhook is
    applied to the mirror: notify it then, from the mirrored row, with Stripe's event id
    beside ours (a redelivery of the Stripe event is a duplicate and never gets here)."""
    from ..store import invoices as invoice_store
    from ..store import subscriptions as subscription_store

    ours = STRIPE_EVENTS.get(stripe_type)
    obj = (event.get("data") or {}).get("object") or {}
    object_id = str(obj.get("id") or "")
    if ours is None or not object_id:
        return
    event_id = stable_event_id("stripe", str(event.get("id")))
    if ours.startswith("invoice."):
        invoice = invoice_store.get(conn, object_id)
        if invoice is not None:
            data = invoice_data(invoice) | {"stripe_event": event.get("id")}
            record(ctx, conn, ours, customer_id=invoice.customer_id, data=data, event_id=event_id)
        return
    subscription = subscription_store.get(conn, object_id)
    if subscription is not None:
        data = subscription_data(subscription) | {"stripe_event": event.get("id")}
        record(ctx, conn, ours, customer_id=subscription.customer_id, data=data, event_id=event_id)


class QuotaEvents:
    """quota.threshold and quota.exceeded for the quota service. An exceeded event is
    notified at most once per customer, service and hour: its id is derived from them, and a
    process remembers the hours it already recorded, so a tenant hammering a hard limit costs
    no write per blocked request."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._exceeded: set[tuple[str, str, str]] = set()

    def threshold(
        self,
        conn: Connection,
        *,
        customer_id: str,
        service: str,
        threshold: int,
        period_start: datetime,
        usage: Decimal,
        limit: Decimal,
        unit: str,
    ) -> None:
        record(
            self._ctx,
            conn,
            "quota.threshold",
            customer_id=customer_id,
            data={
                "service": service,
                "threshold": threshold,
                "usage": plain_number(usage),
                "limit": plain_number(limit),
                "unit": unit,
                "period_start": period_start,
            },
            event_id=stable_event_id(
                "quota.threshold", customer_id, service, str(threshold), iso(period_start)
            ),
            level=logging.WARNING,
        )

    def exceeded(
        self, *, customer_id: str, service: str, usage: Decimal | None, limit: Decimal | None
    ) -> None:
        hour = self._ctx.clock().astimezone(UTC).strftime("%Y-%m-%dT%H")
        key = (customer_id, service, hour)
        if key in self._exceeded:
            return
        if len(self._exceeded) > 10_000:
            self._exceeded.clear()
        with self._ctx.db.write() as conn:
            record(
                self._ctx,
                conn,
                "quota.exceeded",
                customer_id=customer_id,
                data={
                    "service": service,
                    "usage": None if usage is None else plain_number(usage),
                    "limit": None if limit is None else plain_number(limit),
                    "hour": hour + ":00Z",
                },
                event_id=stable_event_id("quota.exceeded", customer_id, service, hour),
                level=logging.WARNING,
            )
        self._exceeded.add(key)
