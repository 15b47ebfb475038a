"""GET /metrics parsed with Prometheus' own text parser: the counters move as requests record,
consume and are blocked; one JSON line per request with its X-Request-Id."""

from __future__ import annotations

import json
import re
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from nself_billing import Billing

from .conftest import RunningServer, bearer


def scrape(http: httpx.Client, key: str) -> dict[tuple[str, tuple], float]:
    answer = http.get("/metrics", headers=bearer(key))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    values: dict[tuple[str, tuple], float] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def value(values: dict, name: str, **labels: str) -> float:
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_move_as_a_tenant_records_consumes_and_is_blocked(http, tenants, service):
    service.quotas.set_override("functions", 2, mode="hard", customer_id="cus_alpha")
    tenant, admin = bearer(tenants["cus_alpha"]), tenants["admin"]
    before = scrape(http, admin)
    for _ in range(3):
        http.post("/v1/quota/functions/consume", headers=tenant, json={"quantity": 1})
    recorded = http.post(
        "/v1/usage",
        headers=tenant,
        json={"events": [{"service": "api", "quantity": 1} for _ in range(5)]},
    )
    assert recorded.status_code == 200
    after = scrape(http, admin)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("nself_billing_consumes_total", service="functions", outcome="admitted") == 2
    assert moved("nself_billing_consumes_total", service="functions", outcome="blocked") == 1
    assert moved("nself_billing_events_ingested_total") == 5
    route = "/v1/quota/{service}/consume"
    assert moved("nself_billing_http_requests_total", route=route, method="POST", status="200") == 2
    assert moved("nself_billing_http_requests_total", route=route, method="POST", status="429") == 1
    assert moved("nself_billing_http_request_duration_seconds_count", route=route) == 3
    assert (
        moved("nself_billing_http_requests_total", route="/v1/usage", method="POST", status="200")
        == 1
    )
    assert value(after, "nself_billing_outbox_pending", outbox="notifications") == 0
    assert value(after, "nself_billing_outbox_pending", outbox="stripe_usage") == 0
    assert value(after, "nself_billing_db_pool_connections", state="size") >= 1


def test_notification_outbox_depth_and_age_are_scraped(http, tenants, service, clock):
    service.notify.add_endpoint("http://127.0.0.1:9/never-called")
    service.customers.create(email="c@example.com", customer_id="cus_gamma")
    values = scrape(http, tenants["admin"])
    assert value(values, "nself_billing_outbox_pending", outbox="notifications") == 1
    assert value(values, "nself_billing_notify_endpoints", status="enabled") == 1


def test_metrics_need_an_admin_key_unless_public(http, tenants, env, clock):
    assert http.get("/metrics").status_code == 401
    assert http.get("/metrics", headers=bearer(tenants["cus_alpha"])).status_code == 403
    public = Billing.from_env({**env, "BILLING_METRICS_PUBLIC": "1"}, clock=clock)
    running = RunningServer(public)
    try:
        answer = httpx.get(running.url + "/metrics", timeout=30)
        assert answer.status_code == 200
        assert "nself_billing_http_requests_total" in answer.text
    finally:
        running.stop()
        public.close()


def test_each_request_is_one_json_line_with_its_request_id_echoed(http, tenants, capfd):
    tenant = bearer(tenants["cus_alpha"])
    capfd.readouterr()
    given = http.post(
        "/v1/quota/api/consume", headers={**tenant, "X-Request-Id": "req-123"}, json={}
    )
    made = http.get("/v1/quota", headers=tenant)
    assert given.headers["x-request-id"] == "req-123"
    assert re.fullmatch(r"[0-9a-f]{20}", made.headers["x-request-id"])
    by_id: dict[str, dict] = {}
    deadline = time.monotonic() + 20  # the line is written once the response went out
    while made.headers["x-request-id"] not in by_id and time.monotonic() < deadline:
        for line in capfd.readouterr().err.splitlines():
            if '"http.request"' in line:
                parsed = json.loads(line)
                by_id[parsed["request_id"]] = parsed
        time.sleep(0.01)
    consume = by_id["req-123"]
    assert (consume["method"], consume["route"], consume["status"]) == (
        "POST",
        "/v1/quota/{service}/consume",
        200,
    )
    assert consume["customer"] == "cus_alpha"
    assert consume["ms"] > 0
    other = by_id[made.headers["x-request-id"]]
    assert (other["route"], other["status"], other["customer"]) == ("/v1/quota", 200, "cus_alpha")


def test_every_metric_the_docs_name_is_served(http, tenants):
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "NOTIFICATIONS.md").read_text()
    named = set(re.findall(r"\b(nself_billing_[a-z_]+)", doc))
    http.post("/v1/quota/api/consume", headers=bearer(tenants["cus_alpha"]), json={})
    text = http.get("/metrics", headers=bearer(tenants["admin"])).text
    served = set()
    for family in text_string_to_metric_families(text):
        served |= {family.name, family.name + "_total"} | {s.name for s in family.samples}
    assert named and named <= served, sorted(named - served)
