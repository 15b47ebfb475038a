"""Subscriptions as the billing engine sees them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from .periods import Period, add_months, period_at, start_of_day
from .plans import EnforcementMode, Plan


class SubscriptionStatus(StrEnum):
    """Every status Stripe documents for a Subscription (the local provider uses the first
    six; the Stripe mirror stores Stripe's as they are, ``providers/stripe/mapping.py`` refuses
    one this list does not know)."""

    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    INCOMPLETE = "incomplete"
    UNPAID = "unpaid"
    #: Stripe: the first payment was not made within 23 hours (the subscription is over)
    INCOMPLETE_EXPIRED = "incomplete_expired"
    #: Stripe: a trial ended without a payment method (no invoices until resumed)
    PAUSED = "paused"


#: statuses in which a subscription is "the current subscription" of its customer
LIVE_STATUSES: tuple[SubscriptionStatus, ...] = (
    SubscriptionStatus.TRIALING,
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.PAST_DUE,
    SubscriptionStatus.UNPAID,
    SubscriptionStatus.INCOMPLETE,
)

INTERVAL_MONTHS = {"month": 1, "year": 12}

#: how long a ``past_due`` subscription keeps its plan's quotas after its period began (when
#: the renewal payment failed); Stripe retries the payment meanwhile (Smart Retries)
PAST_DUE_GRACE = timedelta(days=7)
#: the plan whose quotas a subscription waiting for its first payment gets
FREE_PLAN = "free"


class QuotaGrant(StrEnum):
    """What a subscription's status grants in quotas."""

    #: the plan's quotas (active, trialing, past_due within its grace period)
    PLAN = "plan"
    #: the free plan's (incomplete: the first payment has not been made)
    FREE = "free"
    #: the plan's limits, all enforced as hard limits: nothing is billed as overage
    #: (unpaid, or past_due after its grace period)
    HARD = "hard"


def hard_limited(plan: Plan) -> Plan:
    """The plan with every limit enforced as a hard limit (no overage is admitted)."""
    return replace(plan, quotas=tuple(replace(q, mode=EnforcementMode.HARD) for q in plan.quotas))


def quota_grant(status: SubscriptionStatus, period_start: datetime, now: datetime) -> QuotaGrant:
    if status == SubscriptionStatus.INCOMPLETE:
        return QuotaGrant.FREE
    if status == SubscriptionStatus.UNPAID:
        return QuotaGrant.HARD
    if status == SubscriptionStatus.PAST_DUE and now >= period_start + PAST_DUE_GRACE:
        return QuotaGrant.HARD
    return QuotaGrant.PLAN


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    customer_id: str
    plan_name: str
    status: SubscriptionStatus
    period: Period
    cancel_at_period_end: bool
    interval: str = "month"
    anchor_at: datetime | None = None
    trial_end: datetime | None = None
    scheduled_plan_name: str | None = None
    canceled_at: datetime | None = None
    #: the plan the current period began on (its price is billed at period close)
    period_plan_name: str | None = None

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    def pipe_line(self) -> str:
        """The spec's ``billing_get_subscription`` output:
        sub_id|plan_name|status|period_start|period_end|cancel_at_end"""
        return "|".join(
            (
                self.subscription_id,
                self.plan_name,
                self.status,
                self.period.start.strftime("%Y-%m-%d"),
                self.period.end.strftime("%Y-%m-%d"),
                "true" if self.cancel_at_period_end else "false",
            )
        )


def first_period(start: datetime, interval: str) -> Period:
    return Period(start, add_months(start, INTERVAL_MONTHS[interval]))


@dataclass(frozen=True)
class Trial:
    """A free trial at a subscription's start, billed the same by both engines: nothing until
    ``end``, then the share of the anniversary period the trial ends in, then whole periods
    from the anniversary ``first_full`` (None when the trial ends on an anniversary). Stripe
    gets it as ``trial_end`` and ``billing_cycle_anchor`` (a free period, a prorated period,
    then the fixed billing cycle), so its cycle keeps the subscription's anniversary."""

    end: datetime
    first_full: datetime | None


def trial_of(started: datetime, trial_days: int, interval: str) -> Trial | None:
    """The trial of a subscription started at ``started`` (periods anchored at 00:00 UTC of
    that day, as the local engine anchors them); None without one."""
    if not trial_days:
        return None
    anchor = start_of_day(started)
    end = anchor + timedelta(days=trial_days)
    period = period_at(anchor, end, INTERVAL_MONTHS[interval])
    return Trial(end, None if period.start == end else period.end)
