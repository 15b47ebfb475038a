"""Subscription use cases."""

from __future__ import annotations

from datetime import timedelta

from ..domain.periods import start_of_day
from ..domain.subscriptions import INTERVAL_MONTHS, Subscription, SubscriptionStatus, first_period
from ..errors import Conflict, InvalidInput, NotFound, PlanNotFound
from ..store import catalog as catalog_store
from ..store import customers as customer_store
from ..store import subscriptions as store
from .context import Context


class SubscriptionService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def current(self, customer_id: str) -> Subscription:
        with self._ctx.db.read() as conn:
            subscription = store.current_for(conn, customer_id)
        if subscription is None:
            raise NotFound("No active subscription")
        return subscription

    def find_current(self, customer_id: str) -> Subscription | None:
        with self._ctx.db.read() as conn:
            return store.current_for(conn, customer_id)

    def start(self, customer_id: str, plan_name: str, *, interval: str = "month",
              trial_days: int = 0) -> Subscription:
        """Start a subscription now; the anniversary of this moment anchors every period."""
        if interval not in INTERVAL_MONTHS:
            raise InvalidInput(f"Invalid interval: {interval} (expected month or year)")
        if trial_days < 0:
            raise InvalidInput("Trial days must be zero or more")
        with self._ctx.db.read() as conn:
            if catalog_store.get_plan(conn, plan_name) is None:
                raise PlanNotFound(plan_name)
            if not customer_store.exists(conn, customer_id):
                raise NotFound(f"Customer not found: {customer_id}")
            if store.current_for(conn, customer_id) is not None:
                raise Conflict(f"Customer {customer_id} already has an active subscription")
        subscription_id = self._ctx.provider.create_subscription(
            customer_id=customer_id, plan_name=plan_name, interval=interval,
            trial_days=trial_days, idempotency_key=f"subscription-start:{customer_id}:{plan_name}",
        )
        now = self._ctx.clock()
        # periods start at 00:00 UTC so that per-day usage rollups split exactly between them
        anchor = start_of_day(now)
        trial_end = anchor + timedelta(days=trial_days) if trial_days else None
        subscription = Subscription(
            subscription_id=subscription_id,
            customer_id=customer_id,
            plan_name=plan_name,
            status=(SubscriptionStatus.TRIALING if trial_end else SubscriptionStatus.ACTIVE).value,
            period=first_period(anchor, interval),
            cancel_at_period_end=False,
            interval=interval,
            anchor_at=anchor,
            trial_end=trial_end,
        )
        with self._ctx.db.write() as conn:
            if store.current_for(conn, customer_id) is not None:
                raise Conflict(f"Customer {customer_id} already has an active subscription")
            store.add(conn, subscription, now=now)
        return subscription
