"""Recording usage exactly once: the spec's functions, batches, late events, the recorder, and
the rollups always equal to the raw events (both backends)."""

import json
import re
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nself_billing as nb
from nself_billing import BufferedRecorder, InvalidInput, NotFound, UsageEvent
from nself_billing.api import use_billing


@pytest.fixture
def api(billing, customer_id):
    use_billing(billing)
    yield nb
    use_billing(None)


def count(billing, sql="SELECT COUNT(*) FROM billing_usage_records"):
    return int(billing.queries.render(sql))


def totals(billing, **options):
    return {row.service: row.quantity for row in billing.usage.summary(**options).services}


def test_trackers_record_the_converted_quantities_and_metadata(api, billing):
    api.usage_track_api_request("/api/users", "POST", 201)
    api.usage_track_storage(104857600, 24)
    api.usage_track_bandwidth(52428800, "egress")
    api.usage_track_compute(3600, '{"instance_type":"t3.medium"}')
    api.usage_track_database_query("INSERT", 45)
    api.usage_track_function("process-image", 850, 256)
    api.billing_record_usage("api", 1, '{"endpoint":"/users","method":"GET"}')
    assert totals(billing) == {
        "api": Decimal(2),
        "storage": Decimal("2.34375"),
        "bandwidth": Decimal("0.048828"),
        "compute": Decimal(1),
        "database": Decimal(1),
        "functions": Decimal(1),
    }
    rows = billing.queries.render(
        "SELECT metadata FROM billing_usage_records WHERE service_name = 'api' ORDER BY id"
    )
    assert [json.loads(line) for line in rows.splitlines()] == [
        {"endpoint": "/api/users", "method": "POST", "status": 201},
        {"endpoint": "/users", "method": "GET"},
    ]


def test_the_same_key_counts_once_also_through_the_trackers(api, billing):
    first = api.usage_track_function("f", idempotency_key="run-1")
    again = api.usage_track_function("f", idempotency_key="run-1")
    assert (first.recorded, again.recorded) == (True, False)
    assert api.billing_record_usage("api", 3, idempotency_key="k").recorded
    assert not api.billing_record_usage("api", 3, idempotency_key="k").recorded
    assert totals(billing)["functions"] == 1 and totals(billing)["api"] == 3
    assert count(billing) == 2


def test_a_late_event_lands_in_the_period_it_belongs_to(api, billing, clock):
    # the subscription started 2026-01-15: a December event belongs to no period of it, an
    # event of Feb 20 to the next one, and the report for each window shows exactly them
    api.billing_record_usage("api", 5, at=datetime(2026, 1, 14, 23, 59, tzinfo=UTC))
    api.billing_record_usage("api", 7, at="2026-01-15T00:00:00Z")
    api.billing_record_usage("api", 11, at="2026-02-15T00:00:00+00:00")
    assert totals(billing)["api"] == 7
    assert totals(billing, period="last-month")["api"] == 5
    clock.advance(days=40)
    assert totals(billing)["api"] == 11
    assert totals(billing, period="custom", start="2026-01-14", end="2026-02-15")["api"] == 23


def test_a_naive_datetime_is_refused(api, billing):
    with pytest.raises(InvalidInput, match="time zone"):
        api.billing_record_usage("api", 1, at=datetime(2026, 1, 15))
    assert count(billing) == 0


@pytest.mark.parametrize(
    "service, quantity, metadata",
    [
        ("nope", 1, None),
        ("api", -1, None),
        ("api", "abc", None),
        ("api", 1, "{bad"),
    ],
)
def test_bad_input_writes_nothing(api, billing, service, quantity, metadata):
    with pytest.raises(InvalidInput):
        api.billing_record_usage(service, quantity, metadata)
    assert count(billing) == 0
    assert count(billing, "SELECT COUNT(*) FROM billing_usage_daily") == 0


def test_an_unknown_customer_is_not_found_and_nothing_is_written(billing, customer_id):
    with pytest.raises(NotFound, match="^Customer not found: cus_nobody$"):
        billing.usage.record("api", 1, customer_id="cus_nobody")
    with pytest.raises(NotFound, match="^Customer not found: cus_nobody$"):
        billing.usage.record_many(
            [
                {"service": "api", "quantity": 1},
                {"service": "api", "quantity": 1, "customer_id": "cus_nobody"},
            ]
        )
    assert count(billing) == 0


def test_batches_count_duplicates_within_and_across_batches_once(billing, customer_id):
    events = [UsageEvent("api", 1, idempotency_key=f"e{i % 50}") for i in range(100)]
    first = billing.usage.record_many(events)
    assert (first.accepted, first.duplicates, first.rejected) == (50, 50, ())
    second = billing.usage.record_many(
        [{"service": "api", "quantity": 2, "id": f"e{i}"} for i in range(40, 60)]
    )
    assert (second.accepted, second.duplicates) == (10, 10)
    assert totals(billing)["api"] == 70
    assert count(billing) == 60


def test_generated_keys_are_unique_hex_and_ordered_by_time(billing, customer_id):
    first = billing.usage.record("api", 1).idempotency_key
    time.sleep(0.002)
    second = billing.usage.record("api", 1).idempotency_key
    assert re.fullmatch("[0-9a-f]{32}", first) and first < second
    many = {billing.usage.record("api", 1).idempotency_key for _ in range(200)}
    assert len(many) == 200 and count(billing) == 202


def test_each_event_of_a_batch_stores_its_own_metadata(billing, customer_id):
    shared = {"endpoint": "/a"}
    billing.usage.record_many(
        [UsageEvent("api", 1, shared, f"list{i}") for i in range(3)]
        + [UsageEvent("api", 1, {"endpoint": "/b"}, "list3")]
    )

    def reusing_one_dict():
        meta = {}
        for i in range(3):
            meta["endpoint"] = f"/gen{i}"
            yield UsageEvent("api", 1, meta, f"gen{i}")

    billing.usage.record_many(reusing_one_dict())
    _, rows = billing.queries.run("SELECT idempotency_key, metadata FROM billing_usage_records")
    assert {
        key: (meta if isinstance(meta, dict) else json.loads(meta))["endpoint"]
        for key, meta in rows
    } == {
        "list0": "/a",
        "list1": "/a",
        "list2": "/a",
        "list3": "/b",
        "gen0": "/gen0",
        "gen1": "/gen1",
        "gen2": "/gen2",
    }


def test_a_bad_event_fails_the_whole_batch_unless_skipped(billing, customer_id):
    events = [
        {"service": "api", "quantity": 1},
        {"service": "api", "quantity": -3},
        {"service": "storage", "quantity": "1.5", "metadata": {"disk": "a"}},
    ]
    with pytest.raises(InvalidInput, match="^Event 2: Invalid quantity"):
        billing.usage.record_many(events)
    assert count(billing) == 0
    result = billing.usage.record_many(events, skip_invalid=True)
    assert result.accepted == 2
    assert [(r.index, r.reason) for r in result.rejected] == [
        (1, "Invalid quantity: -3 (must be zero or more)")
    ]


def test_batches_are_exact_to_six_places_across_days(billing, customer_id, clock):
    start = clock()
    events = [UsageEvent("compute", "0.000001", at=start - timedelta(hours=i)) for i in range(1000)]
    assert billing.usage.record_many(events).accepted == 1000
    report = billing.usage.summary(
        period="custom", start="2025-12-01", end="2026-01-31", detailed=True
    )
    assert {r.service: r.quantity for r in report.services}["compute"] == Decimal("0.001")
    assert sum(d.events for d in report.daily) == 1000
    assert len(report.daily) == 43  # 13 hours of Jan 15, 41 whole days, 3 hours of Dec 4
    assert (report.daily[0].events, report.daily[-1].events) == (3, 13)


def test_the_buffered_recorder_loses_nothing_on_close(billing, customer_id):
    recorder = BufferedRecorder(billing, max_batch=100, flush_interval=60)
    keys = [recorder.record("api", 1) for _ in range(250)]
    recorder.record("api", 1, idempotency_key=keys[0])
    with pytest.raises(InvalidInput):
        recorder.record("api", "many")
    recorder.close()
    assert (recorder.accepted, recorder.duplicates) == (250, 1)
    assert count(billing) == 250
    with pytest.raises(nb.BillingError, match="closed"):
        recorder.record("api", 1)


def test_the_buffered_recorder_flushes_by_time(billing, customer_id):
    import time

    with BufferedRecorder(billing, max_batch=1000, flush_interval=0.05) as recorder:
        recorder.record("database", 1)
        deadline = time.monotonic() + 20  # generous: a loaded CI host
        while recorder.pending and time.monotonic() < deadline:
            time.sleep(0.01)
        assert recorder.pending == 0
        assert count(billing) == 1


event_strategy = st.lists(
    st.tuples(
        st.sampled_from(["api", "storage", "compute"]),
        st.decimals(min_value=0, max_value=10**6, places=6, allow_nan=False),
        st.integers(min_value=0, max_value=9),  # key: few, so duplicates are common
        st.integers(min_value=-24 * 40, max_value=24 * 3),
    ),  # hours around now
    min_size=1,
    max_size=30,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.tuples(st.booleans(), event_strategy), min_size=1, max_size=4))
def test_rollups_always_equal_the_raw_events(billing, customer_id, batches):
    prefix = uuid.uuid4().hex
    now = billing.context.clock()
    for one_by_one, events in batches:
        items = [
            UsageEvent(
                service, quantity, idempotency_key=f"{prefix}{key}", at=now + timedelta(hours=hours)
            )
            for service, quantity, key, hours in events
        ]
        if one_by_one:
            for item in items:
                billing.usage.record(
                    item.service, item.quantity, idempotency_key=item.idempotency_key, at=item.at
                )
        else:
            billing.usage.record_many(items)
    with billing.context.db.read() as conn:
        raw = conn.exec_driver_sql(
            "SELECT customer_id, service_name, recorded_at, quantity_micros"
            " FROM billing_usage_records"
        ).all()
        rollups = conn.exec_driver_sql(
            "SELECT customer_id, service_name, day, quantity_micros, events"
            " FROM billing_usage_daily"
        ).all()
    expected = defaultdict(lambda: [0, 0])
    for customer, service, recorded_at, micros in raw:
        moment = (
            datetime.fromisoformat(recorded_at) if isinstance(recorded_at, str) else recorded_at
        )
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        expected[(customer, service, moment.date().isoformat())][0] += micros
        expected[(customer, service, moment.date().isoformat())][1] += 1
    actual = {(c, s, str(d)): [int(m), int(n)] for c, s, d, m, n in rollups}
    assert actual == dict(expected)


def test_the_report_costs_usage_against_the_customers_quota_overrides(billing, customer_id):
    billing.usage.record("bandwidth", 525)
    cost = {r.service: r.cost for r in billing.usage.summary().services}
    assert cost["bandwidth"] == Decimal("1.25")
    billing.quotas.set_override("bandwidth", 520, overage_price="0.10")
    rows = {r.service: r for r in billing.usage.summary().services}
    assert (rows["bandwidth"].limit, rows["bandwidth"].cost) == (Decimal(520), Decimal("0.50"))
    billing.quotas.set_override("bandwidth", "unlimited")
    assert {r.service: r.cost for r in billing.usage.summary().services}["bandwidth"] == 0


def test_a_report_for_an_unknown_customer_is_not_found(billing, customer_id):
    with pytest.raises(NotFound, match="^Customer not found: cus_nobody$"):
        billing.usage.summary(customer_id="cus_nobody")


@pytest.mark.parametrize("quantity", [10**9 + 1, 10**13, "1000000000.5"])
def test_a_quantity_beyond_one_billion_units_is_refused_on_every_path(
    billing, customer_id, quantity
):
    with pytest.raises(InvalidInput, match="too large"):
        billing.usage.record("api", quantity)
    with pytest.raises(InvalidInput, match="too large"):
        billing.quotas.consume("api", quantity)
    assert billing.queries.render("SELECT COUNT(*) FROM billing_usage_records") == "0"
