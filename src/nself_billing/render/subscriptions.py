"""How a subscription looks: its record, its text, and the periods a change closed first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..domain.money import format_money
from ..domain.periods import days_label
from ..domain.subscriptions import Subscription
from .formats import plain_record, with_old_names

if TYPE_CHECKING:
    from ..services.subscriptions import PlanChange

SUBSCRIPTION_COLUMNS = (
    "subscription_id",
    "customer_id",
    "plan_name",
    "status",
    "period_start",
    "period_end",
    "cancel_at_period_end",
    "scheduled_plan_name",
    "trial_end",
)


def subscription_record(subscription: Subscription) -> dict[str, Any]:
    """The one record of a subscription: ``subscription show --format json``, and the HTTP
    API's ``GET /v1/subscription`` (with its older names)."""
    return {
        "subscription_id": subscription.subscription_id,
        "customer_id": subscription.customer_id,
        "plan_name": subscription.plan_name,
        "status": subscription.status,
        "interval": subscription.interval,
        "period_start": subscription.period.start,
        "period_end": subscription.period.end,
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "scheduled_plan_name": subscription.scheduled_plan_name,
        "trial_end": subscription.trial_end,
    }


#: the HTTP API's names from before the one record, still answered beside the record's own
HTTP_OLD_NAMES = {
    "plan": "plan_name",
    "current_period_start": "period_start",
    "current_period_end": "period_end",
    "scheduled_plan": "scheduled_plan_name",
}


def subscription_http_record(subscription: Subscription) -> dict[str, Any]:
    """``GET /v1/subscription``: the record, as JSON, with the HTTP API's older names."""
    return plain_record(with_old_names(subscription_record(subscription), HTTP_OLD_NAMES))


def subscription_text(subscription: Subscription) -> str:
    period = subscription.period
    lines = [
        "Current Subscription",
        f"Subscription ID: {subscription.subscription_id}",
        f"Plan: {subscription.plan_name}",
        f"Status: {subscription.status}",
        f"Current Period: {days_label(period.start, period.end)}",
    ]
    if subscription.trial_end:
        lines.append(f"Trial Ends: {subscription.trial_end:%Y-%m-%d}")
    if subscription.scheduled_plan_name:
        lines.append(
            f"Scheduled Change: {subscription.scheduled_plan_name} on {period.end:%Y-%m-%d}"
        )
    if subscription.cancel_at_period_end:
        lines.append(
            f"Cancels At: {period.end:%Y-%m-%d} (reactivate with "
            "'nself tenant billing subscription reactivate')"
        )
    return "\n".join(lines)


def closed_first_lines(change: PlanChange) -> list[str]:
    """Whatever a command bills, it says so: periods that had ended are closed (and invoiced)
    before a change applies."""
    lines = []
    for invoice in change.closed:
        period = (
            days_label(invoice.period_start, invoice.period_end)
            if invoice.period_start and invoice.period_end
            else "an ended period"
        )
        lines.append(
            f"Period closed first: invoice {invoice.invoice_id} "
            f"{format_money(invoice.total, invoice.currency)} for {period} ({invoice.status})"
        )
    return lines
