"""The quota API over real HTTP: status, bands, and consume with the spec's 429."""

from __future__ import annotations

import threading

import httpx

from .conftest import bearer


def _free_customer(service, customer_id: str = "cus_free") -> str:
    service.customers.create(email="free@example.com", name="Free", customer_id=customer_id)
    service.subscriptions.start(customer_id, "free")
    return service.apikeys.create(customer_id=customer_id).secret


def test_every_quota_with_usage_and_band(http, tenants):
    key = bearer(tenants["cus_alpha"])
    http.post("/v1/usage", headers=key, json={"service": "api", "quantity": 800_000})
    answer = http.get("/v1/quota", headers=key)
    assert answer.status_code == 200
    quotas = {q["service"]: q for q in answer.json()["quotas"]}
    assert len(quotas) == 6
    api = quotas["api"]
    assert (
        api["usage"],
        api["quota"],
        api["available"],
        api["percent"],
        api["status"],
        api["mode"],
    ) == ("800000", "1000000", "200000", 80, "warning", "soft")
    assert quotas["storage"]["status"] == "ok"


def test_one_quota_and_an_unknown_service(http, tenants):
    key = bearer(tenants["cus_alpha"])
    answer = http.get("/v1/quota/storage", headers=key)
    assert (answer.json()["service"], answer.json()["quota"]) == ("storage", "100")
    unknown = http.get("/v1/quota/teleport", headers=key)
    assert unknown.status_code == 422
    assert unknown.json()["error"].startswith("Unknown service: teleport")


def test_consume_answers_429_with_the_spec_body_at_a_hard_limit(http, service):
    key = bearer(_free_customer(service))
    service.quotas.set_override("api", 3, mode="hard", customer_id="cus_free")
    answers = [http.post("/v1/quota/api/consume", headers=key) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].json()["admitted"] is True
    assert answers[3].json() == {
        "error": "API quota exceeded",
        "code": "QUOTA_EXCEEDED",
        "service": "api",
    }
    status = http.get("/v1/quota/api", headers=key).json()
    assert (status["usage"], status["status"]) == ("3", "critical")
    blocked = http.post("/v1/quota/storage/consume", headers=key, json={"quantity": 2})
    assert (blocked.status_code, blocked.json()) == (
        429,
        {"error": "Storage quota exceeded", "code": "QUOTA_EXCEEDED", "service": "storage"},
    )


def test_concurrent_consumers_never_pass_a_hard_limit(server, service):
    key = bearer(_free_customer(service))
    service.quotas.set_override("api", 25, mode="hard", customer_id="cus_free")
    statuses: list[int] = []
    lock = threading.Lock()

    def hammer() -> None:
        with httpx.Client(base_url=server.url, headers=key, timeout=30) as client:
            for _ in range(10):
                code = client.post("/v1/quota/api/consume").status_code
                with lock:
                    statuses.append(code)

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(statuses)) == [200, 429]
    assert statuses.count(200) == 25
    with service.context.db.read() as conn:
        assert (
            conn.exec_driver_sql(
                "SELECT count(*) FROM billing_usage_records WHERE customer_id = 'cus_free'"
            ).scalar()
            == 25
        )


def test_a_soft_limit_admits_and_records(http, tenants, service):
    key = bearer(tenants["cus_alpha"])
    service.quotas.set_override("api", 1, mode="soft", customer_id="cus_alpha")
    answers = [
        http.post("/v1/quota/api/consume", headers=key, json={"quantity": 1}) for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [200, 200]
    assert http.get("/v1/quota/api", headers=key).json()["status"] == "over"


def test_a_replayed_consume_id_is_admitted_and_not_counted_twice(http, tenants):
    key = bearer(tenants["cus_alpha"])
    first = http.post(
        "/v1/quota/compute/consume", headers=key, json={"quantity": "0.5", "id": "job-1"}
    )
    again = http.post(
        "/v1/quota/compute/consume", headers=key, json={"quantity": "0.5", "id": "job-1"}
    )
    assert (first.json()["recorded"], again.json()["recorded"]) == (True, False)
    assert http.get("/v1/quota/compute", headers=key).json()["usage"] == "0.5"


def test_consume_refuses_bad_input_and_other_tenants(http, tenants):
    key = bearer(tenants["cus_alpha"])
    for body in ({"quantity": -1}, {"quantity": "x"}, {"colour": 1}, {"id": ""}, [1]):
        assert http.post("/v1/quota/api/consume", headers=key, json=body).status_code == 422
    other = http.post("/v1/quota/api/consume", headers=key, json={"customer_id": "cus_beta"})
    assert other.status_code == 403
    assert http.get("/v1/quota", headers=key, params={"customer_id": "cus_beta"}).status_code == 403
    admin = http.post(
        "/v1/quota/api/consume",
        headers=bearer(tenants["admin"]),
        json={"customer_id": "cus_beta", "quantity": 2},
    )
    assert admin.status_code == 200


def test_a_consume_path_the_fast_path_declines_is_answered_by_fastapi(http, tenants):
    key = bearer(tenants["cus_alpha"])
    too_long = http.post(f"/v1/quota/{'a' * 51}/consume", headers=key)
    assert too_long.status_code == 422
    assert [e["field"] for e in too_long.json()["errors"]] == ["path.service"]
    unknown = http.post("/v1/quota/teleport/consume", headers=key)
    assert (unknown.status_code, unknown.json()["code"]) == (422, "INVALID_INPUT")
    assert unknown.json()["error"].startswith("Unknown service: teleport")
