"""POST /v1/usage over real HTTP: batches, replays, all-or-nothing validation."""

from __future__ import annotations

from decimal import Decimal

from .conftest import bearer


def _rows(service) -> list[tuple]:
    with service.context.db.read() as conn:
        return conn.exec_driver_sql(
            "SELECT customer_id, service_name, quantity_micros, idempotency_key"
            " FROM billing_usage_records ORDER BY id"
        ).all()


def _daily(service) -> dict[tuple[str, str], tuple[int, int]]:
    with service.context.db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT customer_id, service_name, SUM(quantity_micros), SUM(events)"
            " FROM billing_usage_daily GROUP BY customer_id, service_name"
        ).all()
    return {(c, s): (int(q), int(e)) for c, s, q, e in rows}


def test_one_event_is_recorded_with_its_exact_quantity(http, tenants, service):
    answer = http.post(
        "/v1/usage",
        headers=bearer(tenants["cus_alpha"]),
        json={
            "service": "storage",
            "quantity": "1.234567",
            "id": "s-1",
            "timestamp": "2026-01-10T08:00:00Z",
            "metadata": {"bucket": "b1"},
        },
    )
    assert answer.status_code == 200
    assert answer.json() == {"accepted": 1, "recorded": 1, "duplicates": 0}
    assert _rows(service) == [("cus_alpha", "storage", 1_234_567, "s-1")]


def test_a_float_quantity_is_read_exactly(http, tenants, service):
    http.post(
        "/v1/usage",
        headers=bearer(tenants["cus_alpha"]),
        content=b'{"service": "compute", "quantity": 0.1}',
    )
    assert _rows(service)[0][2] == 100_000


def test_a_batch_of_a_thousand_is_recorded_and_rolled_up(http, tenants, service):
    events = [{"service": "api", "quantity": 1, "id": f"b-{i}"} for i in range(1000)]
    answer = http.post("/v1/usage", headers=bearer(tenants["cus_alpha"]), json={"events": events})
    assert answer.status_code == 200
    assert answer.json()["recorded"] == 1000
    assert _daily(service) == {("cus_alpha", "api"): (1000 * 1_000_000, 1000)}


def test_more_than_a_thousand_events_are_refused(http, tenants, service):
    events = [{"service": "api", "quantity": 1} for _ in range(1001)]
    answer = http.post("/v1/usage", headers=bearer(tenants["cus_alpha"]), json={"events": events})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["message"] == "at most 1000 events per request"
    assert _rows(service) == []


def test_a_replayed_id_is_acknowledged_and_not_counted_again(http, tenants, service):
    key = bearer(tenants["cus_alpha"])
    batch = {
        "events": [
            {"service": "api", "quantity": 1, "id": "r-1"},
            {"service": "api", "quantity": 1, "id": "r-2"},
        ]
    }
    assert http.post("/v1/usage", headers=key, json=batch).json()["recorded"] == 2
    again = http.post(
        "/v1/usage",
        headers=key,
        json={"events": [*batch["events"], {"service": "api", "quantity": 1, "id": "r-3"}]},
    )
    assert again.status_code == 200
    assert again.json() == {"accepted": 3, "recorded": 1, "duplicates": 2}
    assert _daily(service) == {("cus_alpha", "api"): (3_000_000, 3)}


def test_one_bad_event_rejects_the_whole_batch_with_every_error(http, tenants, service):
    events = [
        {"service": "api", "quantity": 1},
        {"service": "teleport", "quantity": 1},
        {"service": "api", "quantity": -2},
        {"service": "api", "quantity": "lots"},
        {"service": "api", "quantity": 1, "timestamp": "2026-01-10T08:00:00"},
        {"service": "api", "quantity": 1, "metadata": [1, 2]},
        {"service": "api", "quantity": 1, "id": ""},
        {"service": "api"},
        {"service": "api", "quantity": 1, "colour": "blue"},
        "not an object",
        {"service": "api", "quantity": "1e999999"},
        {"service": "api", "quantity": True},
    ]
    answer = http.post("/v1/usage", headers=bearer(tenants["cus_alpha"]), json={"events": events})
    assert answer.status_code == 422
    body = answer.json()
    assert body["code"] == "INVALID_EVENTS"
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (1, "service"),
        (2, "quantity"),
        (3, "quantity"),
        (4, "timestamp"),
        (5, "metadata"),
        (6, "id"),
        (7, "quantity"),
        (8, "colour"),
        (9, "event"),
        (10, "quantity"),
        (11, "quantity"),
    ]
    assert _rows(service) == []


def test_a_body_that_is_not_json_is_refused(http, tenants):
    for content in (b"{", b"", b"[]", b'{"events": 3}', b'{"events": [], "x": 1}', b"null"):
        answer = http.post("/v1/usage", headers=bearer(tenants["cus_alpha"]), content=content)
        assert answer.status_code == 422, content
        assert answer.json()["code"] in ("INVALID_INPUT", "INVALID_EVENTS")


def test_an_oversized_body_is_refused_with_413(http, tenants, service):
    big = b'{"service": "api", "quantity": 1, "metadata": {"x": "' + b"a" * (5 << 20) + b'"}}'
    answer = http.post("/v1/usage", headers=bearer(tenants["cus_alpha"]), content=big)
    assert answer.status_code == 413
    assert _rows(service) == []


def test_quantities_sum_exactly(http, tenants, service):
    key = bearer(tenants["cus_alpha"])
    http.post(
        "/v1/usage",
        headers=key,
        json={"events": [{"service": "bandwidth", "quantity": "0.1"} for _ in range(10)]},
    )
    micros, events = _daily(service)[("cus_alpha", "bandwidth")]
    assert (Decimal(micros) / 1_000_000, events) == (Decimal("1"), 10)


def test_an_id_repeated_inside_one_batch_counts_once(http, tenants, service):
    answer = http.post(
        "/v1/usage",
        headers=bearer(tenants["cus_alpha"]),
        json={
            "events": [
                {"service": "api", "quantity": 1, "id": "twice"},
                {"service": "api", "quantity": 1, "id": "twice"},
            ]
        },
    )
    assert answer.json() == {"accepted": 2, "recorded": 1, "duplicates": 1}
    assert _daily(service) == {("cus_alpha", "api"): (1_000_000, 1)}


def test_the_usage_summary_of_the_callers_customer(http, tenants):
    key = bearer(tenants["cus_alpha"])
    http.post(
        "/v1/usage",
        headers=key,
        json={
            "events": [
                {"service": "api", "quantity": 1200},
                {"service": "storage", "quantity": "2.5"},
            ]
        },
    )
    http.post(
        "/v1/usage", headers=bearer(tenants["cus_beta"]), json={"service": "api", "quantity": 7}
    )
    answer = http.get("/v1/usage", headers=key)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["customer_id"], body["plan"]) == ("cus_alpha", "pro")
    rows = {row["service"]: row for row in body["services"]}
    assert (rows["api"]["usage"], rows["api"]["events"]) == ("1200", 1)
    assert rows["storage"]["usage"] == "2.5"
    assert http.get("/v1/usage", headers=key, params={"period": "weekly"}).status_code == 422
    custom = http.get(
        "/v1/usage",
        headers=key,
        params={"period": "custom", "start": "2026-01-01", "end": "2026-01-31"},
    )
    assert {r["service"]: r["usage"] for r in custom.json()["services"]}["api"] == "1200"


def test_dates_at_the_edge_of_the_calendar_are_refused_not_crashed_on(http, tenants):
    key = bearer(tenants["cus_alpha"])
    for params in (
        {"period": "custom", "start": "9999-12-30", "end": "9999-12-31"},
        {"period": "custom", "start": "0001-01-01", "end": "0001-01-02"},
    ):
        assert http.get("/v1/usage", headers=key, params=params).status_code == 422
    for stamp in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", 1e20, -1e12):
        answer = http.post(
            "/v1/usage", headers=key, json={"service": "api", "quantity": 1, "timestamp": stamp}
        )
        assert answer.status_code == 422, stamp
        assert answer.json()["errors"][0]["field"] == "timestamp"
