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


def started_lines(subscription: Subscription, payment_url: str | None) -> list[str]:
    """The started subscription, and where to pay when the first payment needs the customer
    (Stripe leaves such a subscription ``incomplete`` until its first invoice is paid)."""
    lines = [
        f"Subscription started: {subscription.subscription_id} ({subscription.plan_name}, "
        f"{subscription.status})"
    ]
    if subscription.status == "incomplete":
        lines.append(
            f"Payment needs the customer: {payment_url}" if payment_url else "Payment pending"
        )
        lines.append("Quota limits: free plan until the first invoice is paid")
    return lines


def upgrade_lines(change: PlanChange) -> list[str]:
    """``subscription upgrade``: the periods closed first, the change and its prorated charge."""
    lines = closed_first_lines(change)
    lines.append(
        f"Subscription upgraded: {change.previous_plan} -> {change.subscription.plan_name} "
        "(effective immediately)"
    )
    if change.invoice is not None:
        lines.append(
            f"Prorated charge: {format_money(change.invoice.total)} "
            f"(invoice {change.invoice.invoice_id}, {change.invoice.status})"
        )
    elif change.provider is not None:
        lines.append(
            f"Prorated charge: invoiced and charged now by {change.provider.capitalize()} "
            "(see: nself tenant billing invoice list)"
        )
    else:
        lines.append("Prorated charge: none")
    lines.append(f"Quota limits: {change.subscription.plan_name} plan, from now")
    return lines


def downgrade_lines(change: PlanChange) -> list[str]:
    subscription = change.subscription
    return [
        *closed_first_lines(change),
        f"Downgrade scheduled: {change.previous_plan} -> {subscription.scheduled_plan_name} "
        f"on {subscription.period.end:%Y-%m-%d}",
        f"The {change.previous_plan} plan stays active until then; no charge now.",
    ]


def cancel_lines(change: PlanChange, *, immediate: bool) -> list[str]:
    subscription = change.subscription
    lines = closed_first_lines(change)
    if not immediate:
        return [
            *lines,
            f"Subscription will cancel at period end: {subscription.period.end:%Y-%m-%d}",
            "Access continues until then; reactivate with "
            "'nself tenant billing subscription reactivate'.",
        ]
    lines.append(f"Subscription canceled immediately: {subscription.subscription_id}")
    if change.invoice is not None:
        lines.append(
            f"Final invoice: {change.invoice.invoice_id} "
            f"{format_money(change.invoice.total)} ({change.invoice.status})"
        )
    elif change.provider is not None:
        lines.append(
            f"Final invoice: by {change.provider.capitalize()}, if any "
            "(see: nself tenant billing invoice list)"
        )
    lines.append("Access revoked; no refunds are issued. This cannot be reactivated.")
    return lines


def reactivate_lines(change: PlanChange) -> list[str]:
    return [
        *closed_first_lines(change),
        f"Subscription reactivated: {change.subscription.subscription_id} "
        f"(continues on {change.subscription.plan_name})",
    ]
