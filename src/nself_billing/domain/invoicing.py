"""Rating a billing period into invoice lines, and the invoice as the engine sees it.

A period's invoice has a base line (the price of the plan the period began on; upgrades during
the period were charged at once by their own prorated invoices), one overage line per service
whose usage passed a soft limit (hard limits never bill overage), and adjustment lines for
usage that arrived after an earlier period had been closed. Every line is rounded half-up to
the cent on its own; the total is the sum of the rounded lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from .humanize import plain_number
from .money import round_money
from .periods import Period, days_label
from .plans import Plan, Quota
from .proration import trial_share
from .rating import overage_amount, overage_quantity
from .services import SERVICE_NAMES, unit_of

ZERO = Decimal(0)
ONE = Decimal(1)


class LineKind(StrEnum):
    BASE = "base"
    OVERAGE = "overage"
    PRORATION = "proration"
    ADJUSTMENT = "adjustment"


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


class InvoiceKind(StrEnum):
    #: closing a period: base price and overage
    SUBSCRIPTION = "subscription"
    #: an upgrade's prorated difference, issued at once
    PRORATION = "proration"
    #: an immediate cancellation's last invoice
    FINAL = "final"


@dataclass(frozen=True)
class LineItem:
    kind: LineKind
    description: str
    amount: Decimal
    quantity: Decimal = ONE
    unit_price: Decimal = ZERO
    service: str | None = None
    period: Period | None = None


@dataclass(frozen=True)
class RatedUsage:
    """What one service's usage in one period has been billed at so far. Kept per period so
    that usage arriving late is billed as the difference, never twice."""

    service: str
    usage: Decimal
    amount: Decimal


@dataclass(frozen=True)
class PeriodRating:
    lines: tuple[LineItem, ...]
    rated: tuple[RatedUsage, ...]

    @property
    def total(self) -> Decimal:
        return invoice_total(self.lines)


@dataclass(frozen=True)
class Invoice:
    invoice_id: str
    customer_id: str
    subscription_id: str | None
    kind: InvoiceKind
    status: InvoiceStatus
    currency: str
    total: Decimal
    period_start: datetime | None
    period_end: datetime | None
    created_at: datetime | None
    paid_at: datetime | None = None
    lines: tuple[LineItem, ...] = field(default=())
    #: the sequential number given when the invoice was finalized (``INV-000123``; Stripe's
    #: own with the Stripe provider); None for a draft or an invoice from before numbering
    number: str | None = None
    due_at: datetime | None = None

    @property
    def is_paid(self) -> bool:
        return self.status == InvoiceStatus.PAID


def invoice_total(lines: Iterable[LineItem]) -> Decimal:
    """The sum of the (already rounded) lines: never rounded again."""
    return sum((line.amount for line in lines), ZERO)


def plan_price(plan: Plan, interval: str) -> Decimal | None:
    """The plan's price for one period of ``interval``; None for a custom price."""
    return plan.price_yearly if interval == "year" else plan.price_monthly


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def period_label(period: Period) -> str:
    return days_label(period.start, period.end)


def base_line(
    plan: Plan, period: Period, *, interval: str = "month", trial_end: datetime | None = None
) -> LineItem | None:
    """The plan's price for the period (less a free trial at its start). None for a custom
    price, billed outside the tool."""
    price = plan_price(plan, interval)
    if price is None:
        return None
    amount = trial_share(price, period, trial_end)
    description = f"{plan.display_name} plan ({period_label(period)})"
    if amount != round_money(price):
        description += f", after trial ending {_day(trial_end)}" if trial_end else ""
    return LineItem(LineKind.BASE, description, amount, ONE, price, None, period)


def _overage_description(service: str, quantity: Decimal, quota: Quota) -> str:
    return (
        f"{service} overage: {plain_number(quantity)} {unit_of(service)} beyond "
        f"{plain_number(quota.limit or ZERO)} at ${plain_number(quota.overage_price)}"
    )


def overage_line(service: str, usage: Decimal, quota: Quota, period: Period) -> LineItem | None:
    """The overage of one service, or None when there is nothing to bill."""
    amount = overage_amount(usage, quota)
    if amount == ZERO:
        return None
    quantity = overage_quantity(usage, quota)
    return LineItem(
        LineKind.OVERAGE,
        _overage_description(service, quantity, quota),
        amount,
        quantity,
        quota.overage_price,
        service,
        period,
    )


def adjustment_line(
    previous: RatedUsage, usage_now: Decimal, quota: Quota, period: Period
) -> tuple[LineItem | None, RatedUsage]:
    """Usage of a closed period that changed after it was billed: the difference between what
    the whole period's usage costs now and what was billed, as one line."""
    amount_now = overage_amount(usage_now, quota)
    rated = RatedUsage(previous.service, usage_now, amount_now)
    difference = amount_now - previous.amount
    if difference == ZERO:
        return None, rated
    delta = usage_now - previous.usage
    description = (
        f"{previous.service} usage reported late for {period_label(period)}: "
        f"{'+' if delta >= 0 else ''}{plain_number(delta)} "
        f"{unit_of(previous.service)}"
    )
    return LineItem(
        LineKind.ADJUSTMENT,
        description,
        difference,
        delta,
        quota.overage_price,
        previous.service,
        period,
    ), rated


def rate_period(
    *,
    plan: Plan,
    period: Period,
    usage: Mapping[str, Decimal],
    quotas: Mapping[str, Quota] | None = None,
    interval: str = "month",
    trial_end: datetime | None = None,
) -> PeriodRating:
    """The invoice lines of a closed period: base price, then overage per service in the
    order of the six services. ``quotas`` overrides the plan's own (per-customer limits)."""
    lines: list[LineItem] = []
    base = base_line(plan, period, interval=interval, trial_end=trial_end)
    if base is not None:
        lines.append(base)
    in_trial = trial_end is not None and trial_end >= period.end
    rated: list[RatedUsage] = []
    for service in SERVICE_NAMES:
        quantity = usage.get(service, ZERO)
        quota = (quotas or {}).get(service) or plan.quota_for(service)
        line = None if in_trial else overage_line(service, quantity, quota, period)
        if line is not None:
            lines.append(line)
        rated.append(RatedUsage(service, quantity, line.amount if line else ZERO))
    return PeriodRating(tuple(lines), tuple(rated))


def upgrade_line(old: Plan, new: Plan, amount: Decimal, period: Period, at: datetime) -> LineItem:
    rest = Period(at, period.end) if at < period.end else period
    return LineItem(
        LineKind.PRORATION,
        f"Upgrade {old.name} -> {new.name}, prorated {period_label(rest)}",
        amount,
        ONE,
        amount,
        None,
        rest,
    )
