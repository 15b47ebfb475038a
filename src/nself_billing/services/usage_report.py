"""The usage report: per-service totals (and, if asked, per-day) over a billing period, rated
against the customer's plan. Read from the per-day rollups only, never the raw events, so it
costs the same for a customer with ten events or ten million."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ..domain.money import round_money
from ..domain.periods import Period
from ..domain.reporting import ServiceUsage, rate_services, report_period
from ..domain.services import SERVICE_NAMES
from ..domain.subscriptions import INTERVAL_MONTHS
from ..domain.usage import check_service
from ..errors import NotFound
from ..store import catalog as catalog_store
from ..store import customers as customer_store
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


def build_report(ctx: Context, customer_id: str, *, period: str = "current",
                 start: date | str | None = None, end: date | str | None = None,
                 service: str | None = None, detailed: bool = False) -> UsageReport:
    services = (check_service(service),) if service else SERVICE_NAMES
    if (start is not None or end is not None) and period == "current":
        period = "custom"
    now = ctx.clock()
    with ctx.db.read() as conn:
        if not customer_store.exists(conn, customer_id):
            raise NotFound(f"Customer not found: {customer_id}")
        subscription = subscription_store.current_for(conn, customer_id)
        plan = None
        anchor = None
        months = 1
        if subscription is not None:
            plan = catalog_store.get_plan(conn, subscription.plan_name)
            anchor = subscription.anchor_at or subscription.period.start
            months = INTERVAL_MONTHS.get(subscription.interval, 1)
        window = report_period(period, now=now, anchor=anchor, months_per_period=months,
                               start=start, end=end)
        totals = store.period_totals(conn, customer_id, window.first_day, window.end_day,
                                     services if service else None)
        daily = (store.daily_totals(conn, customer_id, window.first_day, window.end_day,
                                    services if service else None) if detailed else [])
    rows = rate_services({name: (t.quantity, t.events) for name, t in totals.items()}, plan,
                         services)
    return UsageReport(customer_id, plan.name if plan else None, window, tuple(rows),
                       tuple(daily))
