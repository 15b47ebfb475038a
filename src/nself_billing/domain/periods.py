"""Billing periods: anniversary-monthly from the subscription's anchor, clamped to month end.

A subscription anchored on Jan 31 renews Feb 28 (29 in a leap year), then Mar 31: each period
end is computed from the anchor, never from the previous (clamped) end, so days are not lost.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("period bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError("a period must end after it starts")

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())

    @property
    def first_day(self) -> date:
        """First UTC day whose usage belongs to this period."""
        return self.start.date()

    @property
    def end_day(self) -> date:
        """First UTC day after this period's usage window. Usage is rolled up per UTC day, so a
        period's usage window is [start day, end day): a period that starts mid-day takes that
        whole day, the previous period gives it up."""
        return self.end.date()

    @property
    def days(self) -> list[date]:
        """Every UTC day the period touches (end exclusive)."""
        first = self.start.date()
        last = (self.end - timedelta(microseconds=1)).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def last_day(end: datetime) -> date:
    """The last UTC day a period ending (exclusively) at ``end`` touches."""
    return (end - timedelta(microseconds=1)).date()


def days_label(start: datetime, end: datetime) -> str:
    """A period as people read it, the one convention of every text output: its first and last
    UTC day, both included (``2026-01-15 to 2026-02-14`` for [Jan 15, Feb 15)). A change at a
    period's end is dated the day it takes effect, the next period's first day; JSON and CSV
    give the instants themselves, ``period_end`` exclusive (the next period's start)."""
    return f"{start:%Y-%m-%d} to {max(last_day(end), start.date()):%Y-%m-%d}"


def add_months(anchor: datetime, months: int) -> datetime:
    """The anchor moved by whole months, its day clamped to the target month's length."""
    month_index = anchor.month - 1 + months
    year = anchor.year + month_index // 12
    month = month_index % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def period_number(anchor: datetime, moment: datetime, months_per_period: int = 1) -> int:
    """Which period (0 = the first) of a subscription anchored at ``anchor`` holds ``moment``."""
    months = (moment.year - anchor.year) * 12 + (moment.month - anchor.month)
    n = months // months_per_period
    while add_months(anchor, n * months_per_period) > moment:
        n -= 1
    while add_months(anchor, (n + 1) * months_per_period) <= moment:
        n += 1
    return n


def period_at(anchor: datetime, moment: datetime, months_per_period: int = 1) -> Period:
    """The anniversary period of a subscription anchored at ``anchor`` containing ``moment``."""
    n = period_number(anchor, moment, months_per_period)
    return Period(
        add_months(anchor, n * months_per_period), add_months(anchor, (n + 1) * months_per_period)
    )


def start_of_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def calendar_month(moment: datetime) -> Period:
    """The UTC calendar month holding ``moment``: the period used when there is no subscription."""
    start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
    return Period(start, add_months(start, 1))


def day_range(first: date, last: date) -> Period:
    """Whole UTC days from ``first`` to ``last`` inclusive (the CLI's --start/--end)."""
    if last < first:
        raise ValueError("the end date is before the start date")
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    return Period(start, end)
