"""How the Stripe areas look: the usage outbox's status, the reconcile tables (Stripe's meters,
and ClickHouse against the rollups), the plan sync, and the webhook test's warning."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..domain.periods import days_label
from .formats import table_text

if TYPE_CHECKING:
    from ..services.event_shipping import EventReconcile
    from ..services.stripe.billing import CatalogEntry
    from ..services.stripe.usage_outbox import OutboxCounts, ReconcileLine

#: ``webhook test`` without a secret prints the spec's lines and exits 0 with this on stderr
NO_SECRET_WARNING = (
    "Warning: STRIPE_WEBHOOK_SECRET is not set: no signed test event was sent "
    "(set it to the endpoint's signing secret from the Stripe Dashboard)"
)

RECONCILE_COLUMNS = (
    "customer_id",
    "service",
    "period_start",
    "period_end",
    "ours",
    "stripe",
    "pending",
    "difference",
)


def outbox_record(status: OutboxCounts) -> dict[str, Any]:
    return {
        "pending": status.pending,
        "sent": status.sent,
        "failed": status.failed,
        "expired": status.expired,
        "unknown": status.unknown,
        "pending_older_than_35_days": status.pending_too_old,
        "oldest_pending": status.oldest_pending,
        "last_error": status.last_error,
    }


def outbox_text(status: OutboxCounts) -> str:
    lines = [
        f"Pending: {status.pending}",
        f"Sent: {status.sent}",
        f"Failed: {status.failed}",
        f"Expired (older than 35 days, not sent): {status.expired}",
    ]
    if status.unknown:
        lines.append(
            f"Unknown (first sent over 24 h ago without an answer, not resent; "
            f"check with reconcile): {status.unknown}"
        )
    if status.pending_too_old:
        lines.append(f"Pending but older than 35 days: {status.pending_too_old}")
    if status.oldest_pending:
        lines.append(f"Oldest pending: {status.oldest_pending.isoformat()}")
    if status.last_error:
        lines.append(f"Last error: {status.last_error}")
    return "\n".join(lines)


def reconcile_records(
    lines: Sequence[ReconcileLine] | None, events: EventReconcile | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """``reconcile``'s records (Stripe's lines, then ClickHouse's differences, each marked with
    its ``check`` when both ran) and their columns."""
    records: list[dict[str, Any]] = []
    if lines is not None:
        records += [
            {
                "customer_id": line.customer_id,
                "service": line.service,
                "period_start": line.period_start,
                "period_end": line.period_end,
                "ours": line.ours,
                "stripe": line.stripe,
                "pending": line.unsent,
                "difference": line.difference,
            }
            for line in lines
        ]
    if events is not None:
        records = [{"check": "stripe", **record} for record in records] + [
            {
                "check": "clickhouse",
                "customer_id": d.customer_id,
                "service": d.service,
                "day": d.day,
                "postgres": d.postgres,
                "clickhouse": d.clickhouse,
                "pending": d.pending,
                "difference": d.difference,
            }
            for d in events.differences
        ]
    columns: list[str] = []
    for record in records:
        columns += [c for c in record if c not in columns]
    return records, columns or list(RECONCILE_COLUMNS)


def stripe_reconcile_text(lines: Sequence[ReconcileLine]) -> str:
    if not lines:
        return "No active subscription with usage in its current period"
    rows = [
        [
            line.customer_id,
            line.service,
            days_label(line.period_start, line.period_end),
            _num(line.ours),
            "-" if line.stripe is None else _num(line.stripe),
            _num(line.unsent),
            "no meter" if line.difference is None else _num(line.difference),
        ]
        for line in lines
    ]
    table = table_text(
        ["Customer", "Service", "Period", "Ours", "Stripe", "Pending", "Difference"],
        rows,
        justify=["left", "left", "left", "right", "right", "right", "right"],
    )
    off = [line for line in lines if line.difference not in (None, 0)]
    summary = (
        "In step with Stripe"
        if not off
        else f"{len(off)} differences (Difference = ours - pending - Stripe)"
    )
    return f"{table}\n{summary}"


def events_reconcile_text(report: EventReconcile) -> str:
    if not report.differences:
        return (
            f"ClickHouse in step with the PostgreSQL rollups ({report.compared:,} customer, "
            "service and day totals compared)"
        )
    rows = [
        [
            d.customer_id,
            d.service,
            d.day.isoformat(),
            f"{_num(d.postgres)} ({d.postgres_events})",
            f"{_num(d.clickhouse)} ({d.clickhouse_events})",
            f"{_num(d.pending)} ({d.pending_events})",
            _num(d.difference),
        ]
        for d in report.differences
    ]
    return table_text(
        ["Customer", "Service", "Day", "PostgreSQL", "ClickHouse", "Pending", "Difference"],
        rows,
        justify=["left", "left", "left", "right", "right", "right", "right"],
    )


def _num(value: Any) -> str:
    return format(value.normalize(), "f") if value is not None else "-"


def plan_sync_records(entries: Sequence[CatalogEntry]) -> list[dict[str, Any]]:
    return [
        {
            "plan": e.plan_name,
            "product": e.product_id,
            "price_monthly": e.price_monthly_id,
            "price_yearly": e.price_yearly_id,
            "meters": ",".join(f"{s}={m}" for s, (m, _p) in sorted(e.meters.items())),
            "created": len(e.created),
        }
        for e in entries
    ]


def plan_sync_lines(entries: Sequence[CatalogEntry]) -> list[str]:
    lines = []
    for entry in entries:
        made = f"created {', '.join(entry.created)}" if entry.created else "up to date"
        lines.append(
            f"{entry.plan_name}: {entry.product_id} monthly={entry.price_monthly_id or '-'} "
            f"yearly={entry.price_yearly_id or '-'} meters={len(entry.meters)} ({made})"
        )
    lines.append(f"Plan catalog synced with Stripe ({len(entries)} plans)")
    return lines


def webhook_endpoint_lines(endpoints: Sequence[dict[str, Any]]) -> list[str]:
    """``webhook list``: one URL a line (with its status when not enabled)."""
    lines = ["Webhook Endpoints"]
    for endpoint in endpoints:
        note = "" if endpoint.get("status") == "enabled" else f" ({endpoint.get('status')})"
        lines.append(f"{endpoint['url']}{note}")
    if not endpoints:
        lines.append("(none: add one in the Stripe Dashboard)")
    return lines
