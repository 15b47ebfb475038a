"""The usage report: per-service totals (and, if asked, per-day) over a billing period, rated
against the customer's plan. Read from the per-day rollups only, never the raw events, so it
costs the same for a customer with ten events or ten million."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from ..domain.money import round_money
from ..domain.periods import Period
from ..domain.plans import EnforcementMode, Plan, Quota
from ..domain.reporting import ServiceUsage, rate_services, report_period
from ..domain.services import SERVICE_NAMES
from ..domain.subscriptions import INTERVAL_MONTHS
from ..domain.usage import check_service
from ..errors import NotFound
from ..store import catalog as catalog_store
from ..store import customers as customer_store
from ..store import quotas as quota_store
from ..store import subscriptions as subscription_store
from ..store import usage as store
from .context import Context


@dataclass(frozen=True)
class UsageReport:
    customer_id: str
    #: the plan the costs are rated against (None without a live subscription)
    plan_name: str | None
    period: Period
    services: tuple[ServiceUsage, ...]
    #: per-day totals, only when the report was asked for in detail
    daily: tuple[store.DailyTotal, ...] = ()

    @property
    def total_cost(self) -> Decimal:
        return round_money(sum((row.cost or Decimal(0) for row in self.services), Decimal(0)))


def build_report(
    ctx: Context,
    customer_id: str,
    *,
    period: str = "current",
    start: date | str | None = None,
    end: date | str | None = None,
    service: str | None = None,
    detailed: bool = False,
) -> UsageReport:
    services = (check_service(service),) if service else SERVICE_NAMES
    if (start is not None or end is not None) and period == "current":
        period = "custom"
    now = ctx.clock()
    with ctx.db.read() as conn:
        subscription = subscription_store.current_for(conn, customer_id)
        plan = None
        anchor = None
        months = 1
        if subscription is None:
            if not customer_store.exists(conn, customer_id):
                raise NotFound(f"Customer not found: {customer_id}")
        else:
            plan = catalog_store.get_plan(conn, subscription.plan_name)
            if plan is not None:
                plan = _with_overrides(plan, quota_store.overrides_for(conn, customer_id))
            anchor = subscription.anchor_at or subscription.period.start
            months = INTERVAL_MONTHS.get(subscription.interval, 1)
        window = report_period(
            period, now=now, anchor=anchor, months_per_period=months, start=start, end=end
        )
        # naming the services lets the rollup's key (customer, service, day) seek each service's
        # days in the window instead of reading every day of the customer's history
        totals = store.period_totals(conn, customer_id, window.first_day, window.end_day, services)
        daily = (
            store.daily_totals(conn, customer_id, window.first_day, window.end_day, services)
            if detailed
            else []
        )
    rows = rate_services(
        {name: (t.quantity, t.events) for name, t in totals.items()}, plan, services
    )
    return UsageReport(customer_id, plan.name if plan else None, window, tuple(rows), tuple(daily))


def _with_overrides(plan: Plan, overrides: dict[str, quota_store.Override]) -> Plan:
    """The plan's quotas as this customer has them (a per-customer override replaces the limit,
    and the mode or overage price when it sets them), so the cost column agrees with the quota
    view and the invoice."""
    if not overrides:
        return plan
    quotas = []
    for service in SERVICE_NAMES:
        base = plan.quota_for(service)
        override = overrides.get(service)
        if override is None:
            quotas.append(base)
            continue
        quotas.append(
            Quota(
                plan.name,
                service,
                override.limit,
                EnforcementMode(override.mode) if override.mode else base.mode,
                base.overage_price if override.overage_price is None else override.overage_price,
            )
        )
    return replace(plan, quotas=tuple(quotas))
