"""How notifications look: endpoints, deliveries and what a send did."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .formats import table_text

if TYPE_CHECKING:
    from ..services.notify import Delivery, Endpoint, SendResult

ENDPOINT_COLUMNS = ("endpoint_id", "url", "events", "status", "description", "created_at")
DELIVERY_COLUMNS = (
    "id",
    "event_id",
    "event_type",
    "customer_id",
    "target",
    "status",
    "attempts",
    "last_status",
    "last_error",
    "next_attempt_at",
    "sent_at",
    "created_at",
)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def endpoint_record(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "endpoint_id": endpoint.endpoint_id,
        "url": endpoint.url,
        "events": ",".join(endpoint.events),
        "status": endpoint.status,
        "description": endpoint.description,
        "disabled_reason": endpoint.disabled_reason,
        "created_at": endpoint.created_at,
    }


def delivery_record(delivery: Delivery) -> dict[str, Any]:
    return {name: getattr(delivery, name) for name in DELIVERY_COLUMNS}


def send_summary(result: SendResult) -> str:
    text = f"Notifications: {result.sent} sent, {result.retried} to retry, {result.failed} failed"
    if result.disabled:
        text += f"; endpoint disabled: {', '.join(result.disabled)}"
    return text


def endpoints_table(endpoints: Sequence[Endpoint]) -> str:
    rows = [
        [
            e.endpoint_id,
            e.url,
            ",".join(e.events),
            e.status + (f" ({e.disabled_reason})" if e.disabled_reason else ""),
            e.description or "-",
        ]
        for e in endpoints
    ]
    if not rows:
        return "No notification endpoints"
    return table_text(
        ["Endpoint", "URL", "Events", "Status", "Description"],
        rows,
        banner=["NOTIFICATION ENDPOINTS"],
    )


def deliveries_table(deliveries: Sequence[Delivery]) -> str:
    rows = [
        [
            str(d.id),
            d.event_type,
            d.event_id,
            d.target,
            d.status,
            str(d.attempts),
            (d.last_error or "-")[:60],
            _when(d.sent_at if d.status == "sent" else d.next_attempt_at),
        ]
        for d in deliveries
    ]
    if not rows:
        return "No deliveries"
    return table_text(
        ["ID", "Event", "Event ID", "Target", "Status", "Tries", "Last error", "When"],
        rows,
        banner=["NOTIFICATION DELIVERIES"],
    )
