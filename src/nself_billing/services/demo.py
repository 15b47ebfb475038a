"""The demo: a tenant on pro with a month of realistic synthetic usage, recorded through the
real batch path (``record_many``), so the usage summary has something true to show.

Safe to run again: the demo customer and subscription are reused, and every synthetic event
has a fixed id (derived from its hour), so a second run records nothing twice; a run on a later
day adds only the hours since.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..domain import trackers
from ..domain.periods import Period, start_of_day
from ..domain.usage import UsageEvent
from ..store import customers as customer_store
from .context import Context
from .customers import CustomerService
from .subscriptions import SubscriptionService
from .usage import BatchResult, UsageService

DEMO_CUSTOMER = "cus_demo"
DEMO_PLAN = "pro"
#: the demo subscription started this many days before the first run
DEMO_HISTORY_DAYS = 29

_ENDPOINTS = (
    ("/api/users", "GET"),
    ("/api/orders", "GET"),
    ("/api/orders", "POST"),
    ("/api/search", "GET"),
    ("/graphql", "POST"),
    ("/api/files", "PUT"),
)
_QUERIES = ("SELECT", "SELECT", "SELECT", "INSERT", "UPDATE", "DELETE")
_FUNCTIONS = (("process-image", 256), ("send-email", 128), ("generate-report", 512))


@dataclass(frozen=True)
class DemoResult:
    customer_id: str
    plan_name: str
    created: bool
    period: Period
    recorded: BatchResult
    events: int


def _diurnal(moment: datetime) -> float:
    """Busy afternoons, quiet nights, slower weekends (mean about 1)."""
    daily = 1 + 0.6 * math.sin(2 * math.pi * (moment.hour - 9) / 24)
    return daily * (0.7 if moment.weekday() >= 5 else 1.08)


def synthetic_events(customer_id: str, first: datetime, until: datetime) -> Iterator[UsageEvent]:
    """About a month of a small SaaS's usage on pro: ~45K API requests, ~150K queries,
    ~1.8K function runs, a few CPU-hours, ~520GB egress (a little over the quota)."""
    hour = first
    while hour < until:
        rng = random.Random(f"{customer_id}:{hour.isoformat()}")
        load = _diurnal(hour)
        stamp = hour.isoformat()

        def event(
            name: str,
            index: int,
            quantity: object,
            metadata: dict[str, object],
            minute: int,
            stamp: str = stamp,
            hour: datetime = hour,
        ) -> UsageEvent:
            key = f"demo:{customer_id}:{stamp}:{name}:{index}"
            return UsageEvent(
                name, quantity, metadata, key, hour + timedelta(minutes=minute), customer_id
            )

        for i in range(4):
            endpoint, method = rng.choice(_ENDPOINTS)
            status = 200 if rng.random() < 0.97 else rng.choice((400, 404, 500))
            meta = trackers.api_request(endpoint, method, status).metadata
            yield event("api", i, max(1, round(15.6 * load * rng.uniform(0.7, 1.3))), meta, i * 15)
        for i in range(4):
            meta = trackers.database_query(rng.choice(_QUERIES), rng.randint(1, 80)).metadata
            yield event(
                "database", i, max(1, round(53 * load * rng.uniform(0.7, 1.3))), meta, i * 15 + 1
            )
        name, memory = rng.choice(_FUNCTIONS)
        runs = trackers.function(name, rng.randint(50, 2000), memory)
        yield event(
            "functions", 0, max(1, round(2.5 * load * rng.uniform(0.5, 1.5))), runs.metadata, 30
        )
        stored = trackers.storage(int(110 * 2**20 * (1 + (hour - first).days / 60)), 1)
        yield event("storage", 0, stored.quantity, stored.metadata, 59)
        for i, direction in enumerate(("egress", "egress")):
            moved = trackers.bandwidth(int(0.365 * 2**30 * load * rng.uniform(0.8, 1.2)), direction)
            yield event("bandwidth", i, moved.quantity, moved.metadata, 20 + i * 20)
        cpu = trackers.compute(
            round(26 * load * rng.uniform(0.6, 1.4)), {"instance_type": "t3.medium"}
        )
        yield event("compute", 0, cpu.quantity, cpu.metadata, 45)
        hour += timedelta(hours=1)


@dataclass(frozen=True)
class DemoServices:
    """The local engine's use cases the demo drives, built by bootstrap.py on the local
    provider: the demo never talks to a payment provider, whatever is configured."""

    customers: CustomerService
    subscriptions: SubscriptionService
    #: the subscriptions use case on a clock that reads the given instant (the demo's
    #: subscription starts that far back)
    subscriptions_at: Callable[[datetime], SubscriptionService]
    usage: UsageService


def run_demo(ctx: Context, local: DemoServices) -> DemoResult:
    now = ctx.clock()
    with ctx.db.read() as conn:
        created = not customer_store.exists(conn, DEMO_CUSTOMER)
    if created:
        local.customers.create(
            email="demo@example.com",
            name="Demo Tenant",
            customer_id=DEMO_CUSTOMER,
            project_name="demo",
        )
    subscription = local.subscriptions.find_current(DEMO_CUSTOMER)
    if subscription is None:
        began = start_of_day(now) - timedelta(days=DEMO_HISTORY_DAYS)
        subscription = local.subscriptions_at(began).start(DEMO_CUSTOMER, DEMO_PLAN)
    usage = local.usage
    report_period = usage.summary(customer_id=DEMO_CUSTOMER).period
    until = now.replace(minute=0, second=0, microsecond=0)
    events = list(synthetic_events(DEMO_CUSTOMER, report_period.start, until))
    totals = BatchResult(0, 0)
    for i in range(0, len(events), 5000):
        result = usage.record_many(events[i : i + 5000])
        totals = BatchResult(
            totals.accepted + result.accepted, totals.duplicates + result.duplicates
        )
    return DemoResult(
        DEMO_CUSTOMER, subscription.plan_name, created, report_period, totals, len(events)
    )
