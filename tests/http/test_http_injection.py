"""SQL and HTML injection in every field the HTTP service reads: stored literally or refused,
never executed, and the schema is intact afterwards."""

from __future__ import annotations

import json

import pytest

from .conftest import bearer
from .test_http_webhooks import post as post_webhook
from .test_http_webhooks import sign

PAYLOADS = [
    "'; DROP TABLE billing_usage_records; --",
    '" OR "1"="1',
    "1' OR '1'='1",
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "${jndi:ldap://x}",
    "api'--",
    "%27%20OR%201%3D1",
    "\u0000nul",
]


def _tables_intact(service) -> int:
    with service.context.db.read() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM billing_usage_records").scalar()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_usage_fields_are_stored_literally_or_refused(http, tenants, service, payload):
    key = bearer(tenants["cus_alpha"])
    refused = [
        {"service": payload, "quantity": 1},
        {"service": "api", "quantity": payload},
        {"service": "api", "quantity": 1, "timestamp": payload},
        {"service": "api", "quantity": 1, "customer_id": payload},
        {"service": "api", "quantity": 1, payload: 1},
    ]
    for event in refused:
        answer = http.post("/v1/usage", headers=key, json=event)
        assert answer.status_code == 422, event
    admin = http.post(
        "/v1/usage",
        headers=bearer(tenants["admin"]),
        json={"service": "api", "quantity": 1, "customer_id": payload},
    )
    assert admin.status_code == 422
    if "\x00" in payload:
        # PostgreSQL cannot store NUL in text: refused on both backends alike
        for event in ({"id": payload}, {"metadata": {"k": payload}}, {"metadata": {payload: 1}}):
            answer = http.post(
                "/v1/usage", headers=key, json={"service": "api", "quantity": 1, **event}
            )
            assert answer.status_code == 422
        assert _tables_intact(service) == 0
        return
    answer = http.post(
        "/v1/usage",
        headers=key,
        json={"service": "api", "quantity": 1, "id": payload, "metadata": {payload: payload}},
    )
    assert answer.status_code == 200
    assert answer.json()["recorded"] == 1
    with service.context.db.read() as conn:
        key_stored, metadata = conn.exec_driver_sql(
            "SELECT idempotency_key, metadata FROM billing_usage_records"
        ).one()
    assert key_stored == payload
    stored = metadata if isinstance(metadata, dict) else json.loads(metadata)
    assert stored == {payload: payload}
    assert _tables_intact(service) == 1


@pytest.mark.parametrize("payload", PAYLOADS[:5])
def test_query_parameters_and_keys_are_never_interpreted(http, tenants, service, payload):
    answer = http.get(
        "/v1/subscription", params={"customer_id": payload}, headers=bearer(tenants["admin"])
    )
    assert answer.status_code in (404, 422)
    answer = http.get(
        "/v1/subscription", params={"customer_id": payload}, headers=bearer(tenants["cus_alpha"])
    )
    assert answer.status_code == 403
    for header in (f"Bearer nsb_{payload}", f"Bearer {payload}"):
        try:
            answer = http.get("/v1/subscription", headers={"Authorization": header})
        except Exception:  # httpx refuses header values it cannot send (e.g. NUL): fine
            continue
        assert answer.status_code == 401
    assert _tables_intact(service) == 0


@pytest.mark.parametrize("payload", PAYLOADS[:5])
def test_webhook_fields_are_stored_literally(http, service, payload):
    body = json.dumps(
        {
            "id": f"evt_{payload}",
            "type": payload,
            "created": 1767000000,
            "data": {"object": {"id": payload}},
        }
    ).encode()
    answer = post_webhook(http, body, sign(body))
    assert answer.status_code == 200
    with service.context.db.read() as conn:
        event_id, kind = conn.exec_driver_sql(
            "SELECT event_id, type FROM billing_webhook_events"
        ).one()
    assert (event_id, kind) == (f"evt_{payload}", payload)


@pytest.mark.parametrize("payload", PAYLOADS[:5])
def test_quota_and_report_parameters_are_never_interpreted(http, tenants, service, payload):
    key = bearer(tenants["cus_alpha"])
    assert http.get(f"/v1/quota/{payload}", headers=key).status_code in (404, 422)
    assert http.post(f"/v1/quota/{payload}/consume", headers=key).status_code in (404, 422)
    consume = http.post(
        "/v1/quota/api/consume",
        headers=key,
        json={"quantity": 1, "id": payload, "metadata": {"m": payload}},
    )
    assert consume.status_code == 200
    for params in (
        {"period": payload},
        {"period": "custom", "start": payload, "end": payload},
        {"service": payload},
    ):
        assert http.get("/v1/usage", headers=key, params=params).status_code == 422
    with service.context.db.read() as conn:
        assert (
            conn.exec_driver_sql("SELECT idempotency_key FROM billing_usage_records").scalar()
            == payload
        )
