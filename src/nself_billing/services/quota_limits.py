"""A customer's effective quota limits: the plan's quotas with the customer's overrides, the
quota period, and setting or clearing an override.

The limits of a customer (plan, overrides, period anchor) are cached for ``ttl`` seconds
(default 1 s): a plan change or override made by *another process* takes effect within that
bound; one made through this object takes effect at once (and tells its ``listeners``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..domain.customers import customer_id_problem
from ..domain.periods import Period
from ..domain.quantities import MAX_LIMIT, parse_quantity, parse_unit_price
from ..domain.subscriptions import FREE_PLAN, QuotaGrant, hard_limited, quota_grant
from ..domain.usage import check_service
from ..errors import InvalidInput, NotFound, PlanNotFound
from ..store import catalog as catalog_store
from ..store import quotas as store
from ..store import subscriptions as subscription_store
from .context import Context
from .current_customer import CurrentCustomer
from .quota_lines import CustomerLimits, EffectiveQuota, effective_quotas


class QuotaLimits:
    def __init__(self, ctx: Context, *, current: CurrentCustomer, ttl: float = 1.0) -> None:
        self._ctx = ctx
        self._current = current
        self.ttl = ttl
        self._limits: dict[str, tuple[float, CustomerLimits]] = {}
        self._periods: dict[str, Period] = {}
        #: called with the customer (None: all) whose limits changed or were forgotten
        self.listeners: list[Callable[[str | None], None]] = []

    def limits(self, customer_id: str | None = None, *, fresh: bool = False) -> CustomerLimits:
        """The customer's effective limits; ``NotFound`` without an active subscription.
        ``fresh`` skips the cache (the displays use it; the hot path does not)."""
        cid = customer_id or self._current.id()
        cached = None if fresh else self._limits.get(cid)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        problem = customer_id_problem(cid)
        if problem:  # e.g. a NUL from a query string: PostgreSQL could not even compare it
            raise InvalidInput(problem)
        with self._ctx.db.read() as conn:
            subscription = subscription_store.current_for(conn, cid)
            if subscription is None:
                raise NotFound("No active subscription")
            grant = quota_grant(subscription.status, subscription.period.start, self._ctx.clock())
            plan_name = FREE_PLAN if grant is QuotaGrant.FREE else subscription.plan_name
            plan = catalog_store.get_plan(conn, plan_name)
            overrides = store.overrides_for(conn, cid)
        if plan is None:
            raise PlanNotFound(plan_name)
        if grant is QuotaGrant.HARD:
            plan = hard_limited(plan)
        quotas = effective_quotas(plan, overrides)
        limits = CustomerLimits(
            cid, plan.name, subscription.anchor_at or subscription.period.start, quotas
        )
        self._limits[cid] = (time.monotonic() + self.ttl, limits)
        return limits

    def period(self, limits: CustomerLimits) -> Period:
        """The customer's current quota period, recomputed only when the clock leaves it."""
        now = self._ctx.clock()
        period = self._periods.get(limits.customer_id)
        if period is None or not period.start <= now < period.end:
            period = limits.period(now)
            self._periods[limits.customer_id] = period
        return period

    def invalidate(self, customer_id: str | None = None) -> None:
        """Forget cached limits (of one customer, or all), and tell the listeners (the cached
        usage of ``enforce`` goes too)."""
        if customer_id is None:
            self._limits.clear()
            self._periods.clear()
        else:
            self._limits.pop(customer_id, None)
            self._periods.pop(customer_id, None)
        for listener in self.listeners:
            listener(customer_id)

    def set_override(
        self,
        service: str,
        limit: object,
        *,
        mode: str | None = None,
        overage_price: object = None,
        customer_id: str | None = None,
    ) -> EffectiveQuota:
        """Replace the plan's quota of one service for one customer. ``limit`` is a number or
        ``"unlimited"`` (or None); ``mode`` soft|hard keeps the plan's mode when omitted."""
        check_service(service)
        cid = customer_id or self.current_customer()
        unlimited = limit is None or (isinstance(limit, str) and limit.lower() == "unlimited")
        value = None if unlimited else parse_quantity(limit, MAX_LIMIT, what="limit")
        if mode is not None and mode not in ("soft", "hard"):
            raise InvalidInput(f"Invalid mode: {mode} (expected soft or hard)")
        price = None if overage_price is None else parse_unit_price(overage_price)
        self.limits(cid)  # the customer must have a subscription
        with self._ctx.db.write() as conn:
            store.set_override(
                conn, store.Override(cid, service, value, mode, price), now=self._ctx.clock()
            )
        self.invalidate(cid)
        self._ctx.log.info(
            "Quota override for %s: %s = %s%s",
            cid,
            service,
            "unlimited" if value is None else value,
            f" ({mode})" if mode else "",
        )
        return self.limits(cid).quotas[service]

    def clear_override(self, service: str, *, customer_id: str | None = None) -> bool:
        """Go back to the plan's quota; False if there was no override."""
        check_service(service)
        cid = customer_id or self.current_customer()
        with self._ctx.db.write() as conn:
            cleared = store.clear_override(conn, cid, service)
        self.invalidate(cid)
        if cleared:
            self._ctx.log.info("Quota override cleared for %s: %s", cid, service)
        return cleared

    def current_customer(self) -> str:
        return self._current.id()
