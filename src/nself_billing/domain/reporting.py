"""The usage report's arithmetic, pure: which period a report covers, and what each service's
usage costs against the plan (the same rating functions as the invoice's overage lines)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from ..errors import InvalidInput
from .periods import Period, calendar_month, day_range, period_at
from .plans import Plan
from .rating import overage_amount, overage_quantity
from .services import SERVICE_NAMES, unit_of

REPORT_PERIODS = ("current", "last-month", "custom")
#: what ``export`` writes ("all" is every other kind), and in which formats
EXPORT_TYPES = ("usage", "invoices", "subscriptions", "payments", "all")
EXPORT_FORMATS = ("json", "csv")
_TICK = timedelta(microseconds=1)


def parse_day(value: date | str, name: str) -> date:
    try:
        day = value if isinstance(value, date) else date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidInput(f"Invalid {name} date: {value} (expected YYYY-MM-DD)") from None
    if not 1970 <= day.year <= 9998:
        raise InvalidInput(f"Invalid {name} date: {value} (years 1970 to 9998)")
    return day


def report_period(
    kind: str,
    *,
    now: datetime,
    anchor: datetime | None = None,
    months_per_period: int = 1,
    start: date | str | None = None,
    end: date | str | None = None,
) -> Period:
    """``current``: the billing period holding ``now`` (the subscription's anniversary period
    from ``anchor``, else the calendar month); ``last-month``: the one before it; ``custom``:
    whole UTC days ``start`` to ``end`` inclusive."""
    if kind not in REPORT_PERIODS:
        raise InvalidInput(f"Invalid period: {kind} (expected current, last-month or custom)")
    if kind == "custom":
        if start is None or end is None:
            raise InvalidInput("A custom period needs --start and --end (YYYY-MM-DD)")
        first, last = parse_day(start, "start"), parse_day(end, "end")
        if last < first:
            raise InvalidInput(f"Invalid period: end {last} is before start {first}")
        return day_range(first, last)

    def period_of(moment: datetime) -> Period:
        if anchor is None:
            return calendar_month(moment)
        return period_at(anchor, moment, months_per_period)

    current = period_of(now)
    return current if kind == "current" else period_of(current.start - _TICK)


@dataclass(frozen=True)
class ServiceUsage:
    service: str
    quantity: Decimal
    events: int
    #: None: unlimited, or no plan
    limit: Decimal | None
    overage: Decimal
    #: None without a plan (nothing to rate against)
    cost: Decimal | None

    @property
    def unit(self) -> str:
        return unit_of(self.service)

    @property
    def included(self) -> bool:
        return self.cost is not None and self.overage == 0


def rate_services(
    totals: dict[str, tuple[Decimal, int]],
    plan: Plan | None,
    services: tuple[str, ...] = SERVICE_NAMES,
) -> list[ServiceUsage]:
    """One row per service (zero when unused), in the spec's order."""
    rows = []
    for service in services:
        quantity, events = totals.get(service, (Decimal(0), 0))
        if plan is None:
            rows.append(ServiceUsage(service, quantity, events, None, Decimal(0), None))
            continue
        quota = plan.quota_for(service)
        rows.append(
            ServiceUsage(
                service,
                quantity,
                events,
                quota.limit,
                overage_quantity(quantity, quota),
                overage_amount(quantity, quota),
            )
        )
    return rows
