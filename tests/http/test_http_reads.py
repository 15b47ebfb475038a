"""The read API on the request path (``http.fastpath``): the same answers as FastAPI's routes
and the library's use cases, usage seen at once, limits changed elsewhere seen within their
one-second bound, and FastAPI's own errors for anything the fast path declines."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from nself_billing import Billing
from nself_billing.domain.humanize import plain_number

from .conftest import bearer

READS = ("/v1/quota", "/v1/quota/api", "/v1/usage", "/v1/subscription", "/v1/invoices")


def _record(http, key: str) -> None:
    http.post(
        "/v1/usage",
        headers=bearer(key),
        json={
            "events": [
                {"service": "api", "quantity": 1200},
                {"service": "api", "quantity": 3},
                {"service": "storage", "quantity": "2.5"},
                {"service": "compute", "quantity": 0},
            ]
        },
    ).raise_for_status()


@pytest.mark.parametrize("path", READS)
def test_the_fast_path_answers_as_fastapi_does(http, tenants, service, path):
    _record(http, tenants["cus_alpha"])
    admin = bearer(tenants["admin"])
    fast = http.get(path, headers=admin, params={"customer_id": "cus_alpha"})
    # a repeated parameter is left to FastAPI (which reads the last one)
    routed = http.get(path + "?customer_id=cus_beta&customer_id=cus_alpha", headers=admin)
    assert fast.status_code == routed.status_code == 200
    assert fast.json() == routed.json()
    own = http.get(path, headers=bearer(tenants["cus_alpha"]))
    assert own.json() == fast.json()


def test_quota_reads_agree_with_the_library(http, tenants, service):
    _record(http, tenants["cus_alpha"])
    lines = {line.service: line for line in service.quotas.statuses(customer_id="cus_alpha")}
    answer = http.get("/v1/quota", headers=bearer(tenants["cus_alpha"])).json()
    for quota in answer["quotas"]:
        line = lines[quota["service"]]
        assert quota["usage"] == plain_number(line.usage or Decimal(0))
        assert (quota["percent"], quota["status"]) == (line.percent, line.band.value)
    one = http.get("/v1/quota/api", headers=bearer(tenants["cus_alpha"])).json()
    assert (one["usage"], one["percent"]) == ("1203", 0)


def test_the_usage_summary_agrees_with_the_library(http, tenants, service):
    _record(http, tenants["cus_alpha"])
    report = service.usage.summary(customer_id="cus_alpha")
    answer = http.get("/v1/usage", headers=bearer(tenants["cus_alpha"])).json()
    rows = {row["service"]: row for row in answer["services"]}
    assert [row["service"] for row in answer["services"]] == [r.service for r in report.services]
    for row in report.services:
        assert rows[row.service]["events"] == row.events
    assert (rows["api"]["usage"], rows["api"]["events"]) == ("1203", 2)
    assert (rows["compute"]["usage"], rows["compute"]["events"]) == ("0", 1)
    assert (rows["bandwidth"]["usage"], rows["bandwidth"]["events"]) == ("0", 0)
    assert answer["total_cost"] == f"{report.total_cost:.2f}"
    one = http.get("/v1/usage", headers=bearer(tenants["cus_alpha"]), params={"service": "api"})
    assert [row["service"] for row in one.json()["services"]] == ["api"]


def test_usage_shows_at_once_and_another_process_limits_within_a_second(
    http, tenants, service, env, clock
):
    key = bearer(tenants["cus_alpha"])
    assert http.get("/v1/quota/api", headers=key).json()["usage"] == "0"
    service.usage.record("api", 5, customer_id="cus_alpha")
    assert http.get("/v1/quota/api", headers=key).json()["usage"] == "5"
    # an override made here is seen at once; one made by another process within a second
    service.quotas.set_override("api", 10, mode="hard", customer_id="cus_alpha")
    assert http.get("/v1/quota/api", headers=key).json()["quota"] == "10"
    with Billing.from_env(env, clock=clock) as other:
        other.quotas.set_override("api", 20, mode="hard", customer_id="cus_alpha")
    time.sleep(1.1)
    assert http.get("/v1/quota/api", headers=key).json()["quota"] == "20"
    assert http.get("/v1/usage", headers=key).json()["services"][0]["quota"] == "20"


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=501",
        "limit=ten",
    ],
)
def test_invoice_parameters_the_fast_path_declines_get_fastapis_errors(http, tenants, query):
    answer = http.get("/v1/invoices?" + query, headers=bearer(tenants["cus_alpha"]))
    assert answer.status_code == 422
    assert answer.json()["code"] == "INVALID_INPUT"


@pytest.mark.parametrize(
    "query",
    ["period=weekly", "start=2026-13-01", "start=20260101", "service=" + "x" * 51],
)
def test_usage_parameters_the_fast_path_declines_get_fastapis_errors(http, tenants, query):
    answer = http.get("/v1/usage?" + query, headers=bearer(tenants["cus_alpha"]))
    assert answer.status_code == 422


def test_reads_without_a_key_are_refused(http, tenants):
    for path in READS:
        answer = http.get(path)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"
