"""API keys over real HTTP: missing, malformed, unknown, revoked, cross-tenant."""

from __future__ import annotations

import time

import pytest

from .conftest import bearer


def _usage(key: str | None, **event: object) -> dict:
    return {"service": "api", "quantity": 1, **event}


def test_health_needs_no_key(http):
    answer = http.get("/healthz")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


def test_openapi_and_docs_are_served(http):
    schema = http.get("/openapi.json").json()
    assert "/v1/usage" in schema["paths"]
    assert "/api/webhooks/stripe" in schema["paths"]
    consume = schema["paths"]["/v1/quota/{service}/consume"]["post"]
    assert [p["name"] for p in consume["parameters"]] == ["service"]
    assert consume["security"] == [{"HTTPBearer": []}]
    assert http.get("/docs").status_code == 200


def test_docs_work_without_internet(http):
    import re

    page = http.get("/docs").text
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page), "an asset from outside"
    assets = re.findall(r"(?:src|href)=['\"]?(/docs/assets/[^'\" >]+)", page)
    assert {a.rsplit("/", 1)[1] for a in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    for asset in assets:
        answer = http.get(asset)
        assert (answer.status_code, len(answer.content) > 1000) == (200, True), asset
    assert "'/openapi.json'" in page or '"/openapi.json"' in page


#: a FastAPI route, and the consume endpoint that http.fastpath answers outside FastAPI's routing
KEYED_POSTS = ("/v1/usage", "/v1/quota/api/consume")


@pytest.mark.parametrize("path", KEYED_POSTS)
def test_a_request_without_a_key_is_refused(http, tenants, path):
    answer = http.post(path, json=_usage(None))
    assert answer.status_code == 401
    assert answer.json() == {"error": "Invalid or missing API key", "code": "UNAUTHORIZED"}
    assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("path", KEYED_POSTS)
def test_malformed_and_unknown_keys_are_refused(http, tenants, path):
    key = tenants["cus_alpha"]
    forged = key[:-4] + "AAAA"
    for header in (
        "Bearer",
        "Basic abc",
        "Bearer nope",
        f"Bearer {forged}",
        f"Bearer  {key}",
        "Bearer nsb_",
        "Bearer nsb_x_y",
        f"Token {key}",
    ):
        answer = http.post(path, json=_usage(None), headers={"Authorization": header})
        assert answer.status_code == 401, header


def test_a_revoked_key_is_refused_at_once(http, tenants, service):
    key = tenants["cus_alpha"]
    assert http.post("/v1/usage", json=_usage(key), headers=bearer(key)).status_code == 200
    key_id = key.split("_")[1]
    service.apikeys.revoke(key_id)
    answer = http.post("/v1/usage", json=_usage(key), headers=bearer(key))
    assert answer.status_code == 401


def test_a_tenant_key_cannot_write_for_another_tenant(http, tenants, service):
    answer = http.post(
        "/v1/usage", json=_usage(None, customer_id="cus_beta"), headers=bearer(tenants["cus_alpha"])
    )
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {
            "index": 0,
            "field": "customer_id",
            "message": "only an admin key may name another customer",
        }
    ]
    with service.context.db.read() as conn:
        count = conn.exec_driver_sql("SELECT count(*) FROM billing_usage_records").scalar()
    assert count == 0


def test_a_tenant_cannot_shadow_another_tenants_event_ids(http, tenants, service):
    for customer in ("cus_alpha", "cus_beta"):
        answer = http.post(
            "/v1/usage", json=_usage(None, id="same-id"), headers=bearer(tenants[customer])
        )
        assert answer.json()["recorded"] == 1
    with service.context.db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT customer_id FROM billing_usage_records ORDER BY customer_id"
        ).all()
    assert [r[0] for r in rows] == ["cus_alpha", "cus_beta"]


def test_an_admin_key_names_the_customer(http, tenants):
    admin = bearer(tenants["admin"])
    missing = http.post("/v1/usage", json=_usage(None), headers=admin)
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "customer_id"
    answer = http.post("/v1/usage", json=_usage(None, customer_id="cus_beta"), headers=admin)
    assert answer.status_code == 200
    unknown = http.post("/v1/usage", json=_usage(None, customer_id="cus_nobody"), headers=admin)
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [
        {"index": 0, "field": "customer_id", "message": "customer not found: cus_nobody"}
    ]


def test_keys_are_stored_hashed(service, tenants):
    with service.context.db.read() as conn:
        stored = [r[0] for r in conn.exec_driver_sql("SELECT key_hash FROM billing_api_keys")]
    assert len(stored) == 3
    for key in tenants.values():
        assert key not in stored
        assert all(key[-20:] not in value for value in stored)


def test_the_subscription_of_the_callers_customer(http, tenants):
    answer = http.get("/v1/subscription", headers=bearer(tenants["cus_beta"]))
    assert answer.status_code == 200
    assert (answer.json()["customer_id"], answer.json()["plan"]) == ("cus_beta", "pro")


def test_a_tenant_key_cannot_read_another_tenant(http, tenants):
    answer = http.get(
        "/v1/subscription", params={"customer_id": "cus_beta"}, headers=bearer(tenants["cus_alpha"])
    )
    assert answer.status_code == 403
    assert answer.json()["code"] == "FORBIDDEN"


def test_an_admin_key_reads_the_customer_it_names(http, tenants):
    admin = bearer(tenants["admin"])
    assert http.get("/v1/subscription", headers=admin).status_code == 403
    answer = http.get("/v1/subscription", params={"customer_id": "cus_beta"}, headers=admin)
    assert answer.json()["customer_id"] == "cus_beta"
    missing = http.get("/v1/subscription", params={"customer_id": "cus_nobody"}, headers=admin)
    assert missing.status_code == 404


def test_a_key_revoked_from_another_process_is_refused_within_a_second(http, tenants, env):
    from nself_billing import Billing

    key = tenants["cus_alpha"]
    assert http.get("/v1/subscription", headers=bearer(key)).status_code == 200
    with Billing.from_env(env) as other_process:
        other_process.apikeys.revoke(key.split("_")[1])
    time.sleep(1.1)
    assert http.get("/v1/subscription", headers=bearer(key)).status_code == 401


def test_an_unexpected_error_answers_a_json_500_without_details(service):
    import httpx

    from nself_billing.http import create_app

    from .conftest import RunningServer

    app = create_app(service)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    server = RunningServer(service, app)
    try:
        answer = httpx.get(server.url + "/boom")
    finally:
        server.stop()
    assert answer.status_code == 500
    assert answer.json() == {"error": "Internal error", "code": "INTERNAL"}
    assert "secret" not in answer.text
