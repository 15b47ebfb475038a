"""The usage report: per-service totals (and, if asked, per-day) over a billing period, rated
against the customer's plan. Read from the per-day rollups only, never the raw events, so it
costs the same for a customer with ten events or ten million."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from ..domain.money import from_micros, round_money
from ..domain.periods import Period
from ..domain.plans import EnforcementMode, Plan, Quota
from ..domain.reporting import ServiceUsage, rate_services, report_period
from ..domain.services import SERVICE_NAMES
from ..domain.subscriptions import INTERVAL_MONTHS, Subscription
from ..domain.usage import check_service
from ..errors import NotFound

if TYPE_CHECKING:  # the store (SQLAlchemy) is imported only by build_report
    from ..store.hot_path import UsageReader
    from .context import Context


class DayTotal(Protocol):
    """One service's usage on one UTC day (``store.usage.DailyTotal`` and the start-up
    reader's rows)."""

    @property
    def day(self) -> date: ...
    @property
    def service(self) -> str: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def events(self) -> int: ...


@dataclass(frozen=True)
class UsageReport:
    customer_id: str
    #: the plan the costs are rated against (None without a live subscription)
    plan_name: str | None
    period: Period
    services: tuple[ServiceUsage, ...]
    #: per-day totals, only when the report was asked for in detail
    daily: tuple[DayTotal, ...] = ()

    @property
    def total_cost(self) -> Decimal:
        return round_money(sum((row.cost or Decimal(0) for row in self.services), Decimal(0)))


class ReportReads(Protocol):
    """What a usage report reads: the SQLAlchemy store (``build_report``) or the start-up
    reader (services/quick_reads.py)."""

    def current_subscription(self, customer_id: str) -> Subscription | None: ...
    def customer_exists(self, customer_id: str) -> bool: ...
    def plan(self, plan_name: str) -> Plan | None: ...
    def overrides(self, customer_id: str) -> Mapping[str, Any]: ...
    def period_totals(
        self, customer_id: str, first_day: date, end_day: date, services: Iterable[str]
    ) -> dict[str, tuple[Decimal, int]]: ...
    def daily_totals(
        self, customer_id: str, first_day: date, end_day: date, services: Iterable[str]
    ) -> Sequence[DayTotal]: ...


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
    now = ctx.clock()
    with ctx.db.read() as conn:
        return compose_report(
            _StoreReads(conn),
            customer_id,
            now=now,
            period=period,
            start=start,
            end=end,
            service=service,
            detailed=detailed,
        )


def compose_report(
    reads: ReportReads,
    customer_id: str,
    *,
    now: datetime,
    period: str = "current",
    start: date | str | None = None,
    end: date | str | None = None,
    service: str | None = None,
    detailed: bool = False,
) -> UsageReport:
    services = (check_service(service),) if service else SERVICE_NAMES
    if (start is not None or end is not None) and period == "current":
        period = "custom"
    subscription = reads.current_subscription(customer_id)
    plan = None
    anchor = None
    months = 1
    if subscription is None:
        if not reads.customer_exists(customer_id):
            raise NotFound(f"Customer not found: {customer_id}")
    else:
        plan = reads.plan(subscription.plan_name)
        if plan is not None:
            plan = _with_overrides(plan, reads.overrides(customer_id))
        anchor = subscription.anchor_at or subscription.period.start
        months = INTERVAL_MONTHS.get(subscription.interval, 1)
    window = report_period(
        period, now=now, anchor=anchor, months_per_period=months, start=start, end=end
    )
    # naming the services lets the rollup's key (customer, service, day) seek each service's
    # days in the window instead of reading every day of the customer's history
    totals = reads.period_totals(customer_id, window.first_day, window.end_day, services)
    daily = (
        reads.daily_totals(customer_id, window.first_day, window.end_day, services)
        if detailed
        else []
    )
    rows = rate_services(totals, plan, services)
    return UsageReport(customer_id, plan.name if plan else None, window, tuple(rows), tuple(daily))


class UsageReports:
    """The usage summary of the request path (``GET /v1/usage``): what ``build_report`` gives,
    with the customer's subscription and plan (with its overrides) cached for ``account_ttl``
    seconds (as the quota service caches limits: a plan change or override made by another
    process shows within that bound), so that a report is one statement, the period's totals,
    without a transaction around it."""

    def __init__(self, ctx: Context, reader: UsageReader, *, account_ttl: float = 1.0) -> None:
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
        cached = self._accounts.get(customer_id)
        if cached is not None and cached[0] > time.monotonic():
            account = cached[1]
        else:
            with self._ctx.db.read(transaction=False) as conn:
                account = _Account.read(_StoreReads(conn), customer_id)
            self._accounts[customer_id] = (time.monotonic() + self.account_ttl, account)
        return compose_report(
            _RequestReads(account, self._reader),
            customer_id,
            now=self._ctx.clock(),
            period=period,
            start=start,
            end=end,
            service=service,
        )


@dataclass(frozen=True)
class _Account:
    """What a report rates usage with, as read once: whether the customer exists, its live
    subscription (if any), that subscription's plan and the customer's overrides."""

    exists: bool
    subscription: Subscription | None
    plan: Plan | None
    overrides: Mapping[str, Any]

    @classmethod
    def read(cls, reads: ReportReads, customer_id: str) -> _Account:
        subscription = reads.current_subscription(customer_id)
        if subscription is None:
            return cls(reads.customer_exists(customer_id), None, None, {})
        plan = reads.plan(subscription.plan_name)
        return cls(True, subscription, plan, reads.overrides(customer_id))


class _RequestReads:
    """``ReportReads`` from a cached account and the quota hot path's one-statement totals."""

    def __init__(self, account: _Account, reader: UsageReader) -> None:
        self._account = account
        self._reader = reader

    def current_subscription(self, customer_id: str) -> Subscription | None:
        return self._account.subscription

    def customer_exists(self, customer_id: str) -> bool:
        return self._account.exists

    def plan(self, plan_name: str) -> Plan | None:
        return self._account.plan

    def overrides(self, customer_id: str) -> Mapping[str, Any]:
        return self._account.overrides

    def period_totals(
        self, customer_id: str, first_day: date, end_day: date, services: Iterable[str]
    ) -> dict[str, tuple[Decimal, int]]:
        usage = self._reader.usage(customer_id, first_day, end_day)
        wanted = set(services)
        return {
            service: (from_micros(micros), events)
            for service, (micros, events) in usage.items()
            if events and service in wanted
        }

    def daily_totals(
        self, customer_id: str, first_day: date, end_day: date, services: Iterable[str]
    ) -> Sequence[DayTotal]:
        return []


class _StoreReads:
    """``ReportReads`` over a SQLAlchemy connection."""

    def __init__(self, conn: Any) -> None:
        from ..store import catalog, customers, quotas, subscriptions, usage

        self._conn = conn
        self._catalog, self._customers, self._quotas = catalog, customers, quotas
        self._subscriptions, self._usage = subscriptions, usage

    def current_subscription(self, customer_id: str) -> Subscription | None:
        return self._subscriptions.current_for(self._conn, customer_id)

    def customer_exists(self, customer_id: str) -> bool:
        return bool(self._customers.exists(self._conn, customer_id))

    def plan(self, plan_name: str) -> Plan | None:
        return self._catalog.get_plan(self._conn, plan_name)

    def overrides(self, customer_id: str) -> Mapping[str, Any]:
        return self._quotas.overrides_for(self._conn, customer_id)

    def period_totals(
        self, customer_id: str, first_day: date, end_day: date, services: Iterable[str]
    ) -> dict[str, tuple[Decimal, int]]:
        totals = self._usage.period_totals(self._conn, customer_id, first_day, end_day, services)
        return {name: (t.quantity, t.events) for name, t in totals.items()}

    def daily_totals(
        self, customer_id: str, first_day: date, end_day: date, services: Iterable[str]
    ) -> Sequence[DayTotal]:
        return list(self._usage.daily_totals(self._conn, customer_id, first_day, end_day, services))


def _with_overrides(plan: Plan, overrides: Mapping[str, Any]) -> Plan:
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
