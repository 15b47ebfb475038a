"""The six trackers' conversions and metadata, and the usage report's periods (pure)."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from nself_billing import InvalidInput
from nself_billing.domain import trackers
from nself_billing.domain.plans import DEFAULT_PLANS
from nself_billing.domain.reporting import rate_services, report_period


def test_api_request_counts_one_with_the_spec_metadata():
    tracked = trackers.api_request("/api/users", "POST", 201)
    assert (tracked.service, tracked.quantity) == ("api", Decimal(1))
    assert tracked.metadata == {"endpoint": "/api/users", "method": "POST", "status": 201}
    assert trackers.api_request("/x").metadata == {"endpoint": "/x", "method": "GET", "status": 200}


def test_storage_is_gb_hours_of_two_to_the_thirty_bytes():
    tracked = trackers.storage(104857600, 24)
    assert tracked.service == "storage"
    assert tracked.quantity == Decimal("2.34375")
    assert trackers.storage(2**30).quantity == Decimal(1)
    assert tracked.metadata == {"bytes": 104857600, "duration_hours": 24}


def test_bandwidth_is_gb_with_a_direction():
    tracked = trackers.bandwidth(52428800)
    # 0.048828125 GB, rounded half-up to the 6 places a quantity has
    assert (tracked.quantity, tracked.metadata["direction"]) == (Decimal("0.048828"), "egress")
    assert trackers.bandwidth(2**30, "ingress").metadata == {"bytes": 2**30, "direction": "ingress"}
    with pytest.raises(InvalidInput, match="direction"):
        trackers.bandwidth(1, "sideways")


def test_compute_is_cpu_hours_and_keeps_free_form_metadata():
    tracked = trackers.compute(3600, '{"instance_type":"t3.medium"}')
    assert tracked.quantity == Decimal(1)
    assert tracked.metadata == {"instance_type": "t3.medium", "cpu_seconds": 3600}
    assert trackers.compute(5400).quantity == Decimal("1.5")


def test_database_query_and_function_defaults():
    assert trackers.database_query().metadata == {"query_type": "SELECT", "duration_ms": 0}
    assert trackers.database_query("INSERT", 45).metadata == {
        "query_type": "INSERT",
        "duration_ms": 45,
    }
    tracked = trackers.function("process-image", 850, 256)
    assert (tracked.service, tracked.quantity) == ("functions", Decimal(1))
    assert tracked.metadata == {"function": "process-image", "duration_ms": 850, "memory_mb": 256}
    assert trackers.function("f").metadata["memory_mb"] == 128


@pytest.mark.parametrize(
    "call",
    [
        lambda: trackers.storage(-1),
        lambda: trackers.storage("lots"),
        lambda: trackers.api_request("/x", "GET", 999),
        lambda: trackers.function(""),
        lambda: trackers.compute(1, "[1]"),
    ],
)
def test_bad_tracker_input_is_invalid_input(call):
    with pytest.raises(InvalidInput):
        call()


NOW = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


def test_periods_follow_the_subscription_anchor_else_the_calendar_month():
    anchored = report_period("current", now=NOW, anchor=datetime(2026, 1, 31, tzinfo=UTC))
    assert (anchored.start, anchored.end) == (
        datetime(2026, 2, 28, tzinfo=UTC),
        datetime(2026, 3, 31, tzinfo=UTC),
    )
    last = report_period("last-month", now=NOW, anchor=datetime(2026, 1, 31, tzinfo=UTC))
    assert (last.start, last.end) == (
        datetime(2026, 1, 31, tzinfo=UTC),
        datetime(2026, 2, 28, tzinfo=UTC),
    )
    calendar = report_period("last-month", now=NOW)
    assert (calendar.first_day, calendar.end_day) == (date(2026, 2, 1), date(2026, 3, 1))
    custom = report_period("custom", now=NOW, start="2025-12-01", end="2025-12-31")
    assert (custom.first_day, custom.end_day) == (date(2025, 12, 1), date(2026, 1, 1))


@pytest.mark.parametrize(
    "start, end, message",
    [
        ("2025-13-01", "2025-12-31", "Invalid start date"),
        ("2025-12-01", "31/12/2025", "Invalid end date"),
        ("2025-12-31", "2025-12-01", "before start"),
        (None, "2025-12-01", "needs --start and --end"),
    ],
)
def test_bad_custom_periods_are_invalid_input(start, end, message):
    with pytest.raises(InvalidInput, match=message):
        report_period("custom", now=NOW, start=start, end=end)


def test_costs_are_included_within_quota_and_overage_beyond():
    pro = next(p for p in DEFAULT_PLANS if p.name == "pro")
    rows = {
        r.service: r
        for r in rate_services({"api": (Decimal(45200), 10), "bandwidth": (Decimal(525), 3)}, pro)
    }
    assert rows["api"].included and rows["api"].cost == Decimal("0.00")
    assert rows["bandwidth"].overage == Decimal(25)
    assert rows["bandwidth"].cost == Decimal("1.25")
    assert rows["storage"].quantity == 0 and rows["storage"].included
    assert all(r.cost is None for r in rate_services({}, None))
