"""The everyday read commands at start-up cost: ``usage``, ``quota``, ``customer show``,
``subscription show``, ``invoice list`` and ``plan current`` without building ``Billing`` (and
so without importing SQLAlchemy).

``QuickReads.open`` answers only for the embedded SQLite database with the local provider
(Stripe is read first on every read), at the current schema revision, with any ``plans.toml``
already applied; otherwise None, and the caller builds ``Billing`` as usual, which creates or
migrates the database and reports errors. The answers are those of the use cases they stand in
for (``CustomerService.current_id``, ``SubscriptionService.current``, ``InvoiceService.list``,
``compose_report``, ``QuotaService.statuses``): the same domain values, the same errors.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import InvalidOperation

from ..domain.customers import NAMED_IN_ERROR, Customer, customer_id_problem, only_customer
from ..domain.invoicing import Invoice
from ..domain.money import from_micros
from ..domain.plans import Plan
from ..domain.services import SERVICE_NAMES
from ..domain.subscriptions import Subscription
from ..domain.usage import check_service
from ..errors import InvalidInput, NotFound, PlanNotFound
from ..settings import Settings
from ..store.migrate import SCHEMA_REVISION
from ..store.quick_sqlite import QuickReader
from .catalog_startup import plans_file
from .quota_lines import CustomerLimits, QuotaLine, effective_quotas
from .usage_report import UsageReport, compose_report

NO_SUBSCRIPTION = "No active subscription"
#: what a stored row this path does not take raises (the caller then takes the normal path)
UNREADABLE = (sqlite3.Error, TypeError, ValueError, InvalidOperation)


def utc_now() -> datetime:
    return datetime.now(UTC)


class QuickReads:
    def __init__(
        self,
        reader: QuickReader,
        settings: Settings,
        customer_override: str | None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._reader = reader
        self._settings = settings
        self._override = customer_override
        self.now = clock

    @classmethod
    def open(
        cls,
        settings: Settings,
        customer_override: str | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> QuickReads | None:
        if settings.uses_postgresql or settings.provider != "local":
            return None
        pending = plans_file(settings)
        if pending is not None and not pending.applied:
            return None
        try:
            reader = QuickReader.open(settings.sqlite_path, SCHEMA_REVISION)
        except sqlite3.Error:
            return None
        return None if reader is None else cls(reader, settings, customer_override, clock)

    def close(self) -> None:
        self._reader.close()

    def customer_id(self) -> str:
        chosen = self._override or self._settings.customer_id
        if chosen:
            problem = customer_id_problem(chosen)
            if problem:
                raise InvalidInput(problem)
            return chosen
        return only_customer(self._reader.first_customer_ids(NAMED_IN_ERROR + 1))

    def customer(self) -> Customer:
        customer_id = self.customer_id()
        customer = self._reader.customer(customer_id)
        if customer is None:
            raise NotFound(f"Customer not found: {customer_id}")
        return customer

    def subscription(self) -> Subscription:
        subscription = self._reader.current_subscription(self.customer_id())
        if subscription is None:
            raise NotFound(NO_SUBSCRIPTION)
        return subscription

    def current_plan(self) -> Plan:
        subscription = self.subscription()
        plan = self._reader.plan(subscription.plan_name)
        if plan is None:
            raise PlanNotFound(subscription.plan_name)
        return plan

    def invoices(self, limit: int | None = None) -> list[Invoice]:
        return self._reader.invoices(self.customer_id(), limit)

    def usage_report(
        self,
        *,
        period: str = "current",
        start: str | None = None,
        end: str | None = None,
        service: str | None = None,
        detailed: bool = False,
    ) -> UsageReport:
        return compose_report(
            self._reader,
            self.customer_id(),
            now=self.now(),
            period=period,
            start=start,
            end=end,
            service=service,
            detailed=detailed,
        )

    def limits(self) -> CustomerLimits:
        customer_id = self.customer_id()
        subscription = self._reader.current_subscription(customer_id)
        if subscription is None:
            raise NotFound(NO_SUBSCRIPTION)
        plan = self._reader.plan(subscription.plan_name)
        if plan is None:
            raise PlanNotFound(subscription.plan_name)
        quotas = effective_quotas(plan, self._reader.overrides(customer_id))
        anchor = subscription.anchor_at or subscription.period.start
        return CustomerLimits(customer_id, plan.name, anchor, quotas)

    def quota_lines(
        self, limits: CustomerLimits, services: Iterable[str] | None, *, with_usage: bool
    ) -> list[QuotaLine]:
        chosen = (
            [check_service(s) for s in services] if services is not None else list(SERVICE_NAMES)
        )
        period = limits.period(self.now())
        if not with_usage:
            return [QuotaLine(limits.quotas[s], period) for s in chosen]
        return [
            QuotaLine(
                limits.quotas[s],
                period,
                from_micros(
                    self._reader.service_total_micros(
                        limits.customer_id, s, period.first_day, period.end_day
                    )
                ),
            )
            for s in chosen
        ]
