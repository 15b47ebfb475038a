"""The usage report: per-service totals (and, if asked, per-day) over a billing period, rated
against the customer's plan. Read from the per-day rollups only, never the raw events, so it
costs the same for a customer with ten events or ten million."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from ..domain.money import from_micros, round_money
from ..domain.periods import Period
from ..domain.plans import EnforcementMode, Plan, Quota
from ..domain.reporting import ServiceUsage, rate_services, report_period
from ..domain.services import SERVICE_NAMES
from ..domain.subscriptions import INTERVAL_MONTHS, Subscription
from ..domain.usage import check_service
from ..errors import NotFound
from ..store import catalog as catalog_store
from ..store import customers as customer_store
from ..store import quotas as quota_store
from ..store import subscriptions as subscription_store
from ..store import usage as store
from .context import Context

if TYPE_CHECKING:
    from sqlalchemy import Connection


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
    with ctx.db.read() as conn:
        account = _read_account(conn, customer_id)
        window = _window(account, period, ctx.clock(), start, end)
        # naming the services lets the rollup's key (customer, service, day) seek each service's
        # days in the window instead of reading every day of the customer's history
        totals = store.period_totals(conn, customer_id, window.first_day, window.end_day, services)
        daily = (
            store.daily_totals(conn, customer_id, window.first_day, window.end_day, services)
            if detailed
            else []
        )
    return _report(customer_id, account, window, totals, services, daily)


class UsageReports:
    """The usage summary of the request path (``GET /v1/usage``): what ``build_report`` gives,
    with the customer's subscription and plan (with its overrides) cached for ``account_ttl``
    seconds (as the quota service caches limits: a plan change or override made by another
    process shows within that bound), so that a report is one statement, the period's totals,
    without a transaction around it."""

    def __init__(
        self, ctx: Context, reader: quota_store.UsageReader, *, account_ttl: float = 1.0
    ) -> None:
        self._ctx = ctx
        self._reader = reader
        self.account_ttl = account_ttl
        self._accounts: dict[str, tuple[float, _Account]] = {}

    def summary(
        self,
        customer_id: str,
        *,
        period: str = "current",
        start: date | str | None = None,
        end: date | str | None = None,
        service: str | None = None,
    ) -> UsageReport:
        services = (check_service(service),) if service else SERVICE_NAMES
        cached = self._accounts.get(customer_id)
        if cached is not None and cached[0] > time.monotonic():
            account = cached[1]
        else:
            with self._ctx.db.read(transaction=False) as conn:
                account = _read_account(conn, customer_id)
            self._accounts[customer_id] = (time.monotonic() + self.account_ttl, account)
        window = _window(account, period, self._ctx.clock(), start, end)
        usage = self._reader.usage(customer_id, window.first_day, window.end_day)
        totals = {
            service: store.UsageTotal(service, from_micros(micros), events)
            for service, (micros, events) in usage.items()
            if events and service in services
        }
        return _report(customer_id, account, window, totals, services, [])


@dataclass(frozen=True)
class _Account:
    """What a report rates usage with: the live subscription (if any) and its plan as this
    customer has it (overrides applied)."""

    subscription: Subscription | None
    plan: Plan | None


def _read_account(conn: Connection, customer_id: str) -> _Account:
    subscription = subscription_store.current_for(conn, customer_id)
    if subscription is None:
        if not customer_store.exists(conn, customer_id):
            raise NotFound(f"Customer not found: {customer_id}")
        return _Account(None, None)
    plan = catalog_store.get_plan(conn, subscription.plan_name)
    if plan is not None:
        plan = _with_overrides(plan, quota_store.overrides_for(conn, customer_id))
    return _Account(subscription, plan)


def _window(
    account: _Account,
    period: str,
    now: datetime,
    start: date | str | None,
    end: date | str | None,
) -> Period:
    if (start is not None or end is not None) and period == "current":
        period = "custom"
    subscription = account.subscription
    anchor = None
    months = 1
    if subscription is not None:
        anchor = subscription.anchor_at or subscription.period.start
        months = INTERVAL_MONTHS.get(subscription.interval, 1)
    return report_period(
        period, now=now, anchor=anchor, months_per_period=months, start=start, end=end
    )


def _report(
    customer_id: str,
    account: _Account,
    window: Period,
    totals: dict[str, store.UsageTotal],
    services: tuple[str, ...],
    daily: list[store.DailyTotal],
) -> UsageReport:
    plan = account.plan
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
