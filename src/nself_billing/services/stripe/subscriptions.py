"""Subscription use cases on Stripe: Stripe acts (and computes periods, invoices and
prorations), our tables are its mirror. The same checks as the local engine run before
anything is sent (services/subscriptions.py)."""

from __future__ import annotations

from ...domain.subscriptions import Subscription
from ...errors import Conflict, NotFound
from ...store import subscriptions as store
from ..context import Context
from ..subscriptions import (
    NO_SUBSCRIPTION,
    PlanChange,
    check_downgrade,
    check_start,
    check_upgrade,
    plans_of,
)
from .billing import StripeBillingService


class StripeSubscriptionService:
    def __init__(self, ctx: Context, *, stripe: StripeBillingService) -> None:
        self._ctx = ctx
        self._stripe = stripe

    def current(self, customer_id: str) -> Subscription:
        """Read from Stripe first (every status, so a subscription made or cancelled in the
        Dashboard or the Customer Portal is seen), then from the refreshed mirror."""
        self._stripe.subscriptions(customer_id)
        found = self.find_current(customer_id)
        if found is None:
            raise NotFound(NO_SUBSCRIPTION)
        return found

    def find_current(self, customer_id: str) -> Subscription | None:
        with self._ctx.db.read() as conn:
            return store.current_for(conn, customer_id)

    def _mirrored(self, subscription_id: str) -> Subscription:
        with self._ctx.db.read() as conn:
            subscription = store.get(conn, subscription_id)
        if subscription is None:
            raise NotFound(f"Subscription not found: {subscription_id}")
        return subscription

    def start(
        self, customer_id: str, plan_name: str, *, interval: str = "month", trial_days: int = 0
    ) -> Subscription:
        """Stripe computes the period; the customer may exist only there (its mirror row is
        made with the subscription's)."""
        check_start(interval, trial_days)
        self._stripe.subscriptions(customer_id)
        if self.find_current(customer_id) is not None:
            raise Conflict(f"Customer {customer_id} already has an active subscription")
        started = self._stripe.start(
            customer_id, plan_name, interval=interval, trial_days=trial_days
        )
        return self._mirrored(started.subscription_id)

    def upgrade(self, customer_id: str, plan_name: str) -> PlanChange:
        """Every item moves to the new plan at once; Stripe invoices and charges the prorated
        difference (no local invoice)."""
        subscription = self.current(customer_id)
        with self._ctx.db.read() as conn:
            current, target = plans_of(conn, subscription, plan_name)
        check_upgrade(current, target)
        changed = self._stripe.upgrade(customer_id, target.name)
        return PlanChange(
            self._mirrored(changed.subscription_id), current.name, provider=self._ctx.provider.name
        )

    def downgrade(self, customer_id: str, plan_name: str) -> PlanChange:
        """A Subscription Schedule: the current items until the period ends, then the new
        plan's."""
        subscription = self.current(customer_id)
        with self._ctx.db.read() as conn:
            current, target = plans_of(conn, subscription, plan_name)
        check_downgrade(subscription, current, target)
        changed = self._stripe.downgrade(customer_id, target.name)
        return PlanChange(
            self._mirrored(changed.subscription_id), current.name, provider=self._ctx.provider.name
        )

    def cancel(self, customer_id: str, *, immediate: bool = False) -> PlanChange:
        """At period end, or now (pending usage sent first, then Stripe's final invoice)."""
        changed = self._stripe.cancel(customer_id, immediate=immediate)
        ended = self._mirrored(changed.subscription_id)
        return PlanChange(ended, ended.plan_name, provider=self._ctx.provider.name)

    def reactivate(self, customer_id: str) -> PlanChange:
        changed = self._stripe.reactivate(customer_id)
        kept = self._mirrored(changed.subscription_id)
        return PlanChange(kept, kept.plan_name, provider=self._ctx.provider.name)
