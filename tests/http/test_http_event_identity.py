"""Issue 14 over a real socket, as a hostile tenant would try it: ids are per customer (never a
joined string), one tenant's absurd quantity or bad text fails alone (422, never a 5xx, never
another tenant's request), and a consume id reused for another request is refused (409)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from .conftest import bearer

ABSURD = ["1e30", "1e308", "NaN", "-Infinity", "1e-30", "Infinity", "-1"]


def _keys(service) -> list[tuple[str, str]]:
    with service.context.db.read() as conn:
        return [
            (c, k)
            for c, k in conn.exec_driver_sql(
                "SELECT customer_id, idempotency_key FROM billing_usage_records"
                " ORDER BY customer_id, idempotency_key"
            )
        ]


def _key_for(service, customer: str) -> str:
    service.customers.create(email="t@example.com", customer_id=customer)
    service.subscriptions.start(customer, "pro")
    return service.apikeys.create(customer_id=customer).secret


def test_two_tenants_sharing_ids_each_get_their_event(http, tenants, service):
    for customer in ("cus_alpha", "cus_beta"):
        key = bearer(tenants[customer])
        usage = http.post(
            "/v1/usage", headers=key, json={"service": "api", "quantity": 1, "id": "k1"}
        )
        assert usage.json()["recorded"] == 1
        consume = http.post("/v1/quota/api/consume", headers=key, json={"id": "k2"})
        assert consume.json()["recorded"] is True
    # an admin batch naming both tenants with one id: two events, and a replay of both
    events = [
        {"service": "api", "quantity": 1, "id": "k3", "customer_id": c}
        for c in ("cus_alpha", "cus_beta", "cus_alpha")
    ]
    admin = bearer(tenants["admin"])
    first = http.post("/v1/usage", headers=admin, json={"events": events})
    assert first.json() == {"accepted": 3, "recorded": 2, "duplicates": 1}
    again = http.post("/v1/usage", headers=admin, json={"events": events})
    assert again.json() == {"accepted": 3, "recorded": 0, "duplicates": 3}
    assert _keys(service) == [
        ("cus_alpha", "k1"),
        ("cus_alpha", "k2"),
        ("cus_alpha", "k3"),
        ("cus_beta", "k1"),
        ("cus_beta", "k2"),
        ("cus_beta", "k3"),
    ]


def test_an_id_sent_over_http_and_through_the_cli_is_one_event(http, tenants, service, cli):
    http.post(
        "/v1/usage",
        headers=bearer(tenants["cus_alpha"]),
        json={"service": "api", "quantity": 5, "id": "evt-1"},
    )
    again = cli(
        "tenant",
        "billing",
        "--customer",
        "cus_alpha",
        "usage",
        "record",
        "api",
        "5",
        "--id",
        "evt-1",
    )
    assert again.stdout == "Already recorded: api (id evt-1); nothing changed\n"
    other = cli(
        "tenant",
        "billing",
        "--customer",
        "cus_beta",
        "usage",
        "record",
        "api",
        "9",
        "--id",
        "evt-1",
    )
    assert other.stdout == "Recorded: api 9 (id evt-1)\n"
    assert _keys(service) == [("cus_alpha", "evt-1"), ("cus_beta", "evt-1")]


def test_a_customer_id_with_a_colon_cannot_shadow_another_tenant(http, service):
    plain = bearer(_key_for(service, "cus_c"))
    coloned = bearer(_key_for(service, "cus_c:x"))
    # before issue 14 both were stored as 'cus_c:x:evt-1', so the second was a "duplicate"
    first = http.post(
        "/v1/usage", headers=plain, json={"service": "api", "quantity": 1, "id": "x:evt-1"}
    )
    second = http.post(
        "/v1/usage", headers=coloned, json={"service": "api", "quantity": 1, "id": "evt-1"}
    )
    assert (first.json()["recorded"], second.json()["recorded"]) == (1, 1)
    # and on consume, where the clash used to admit for free
    assert http.post("/v1/quota/api/consume", headers=plain, json={"id": "x:c-1"}).json()[
        "recorded"
    ]
    assert http.post("/v1/quota/api/consume", headers=coloned, json={"id": "c-1"}).json()[
        "recorded"
    ]
    assert _keys(service) == [
        ("cus_c", "x:c-1"),
        ("cus_c", "x:evt-1"),
        ("cus_c:x", "c-1"),
        ("cus_c:x", "evt-1"),
    ]
    assert service.quotas.status("api", customer_id="cus_c:x").usage == 2


@pytest.mark.parametrize("quantity", ABSURD)
def test_an_absurd_quantity_is_422_wherever_a_quantity_is_read(http, tenants, service, quantity):
    key = {**bearer(tenants["cus_alpha"]), "Content-Type": "application/json"}
    admin = {**bearer(tenants["admin"]), "Content-Type": "application/json"}
    # the raw JSON number (1e308, NaN and -Infinity as Python's json reads them) and a string
    for value in (quantity, f'"{quantity}"'):
        answers = [
            http.post(
                "/v1/usage", headers=key, content=f'{{"service": "api", "quantity": {value}}}'
            ),
            http.post(
                "/v1/usage",
                headers=key,
                content=f'{{"events": [{{"service": "api", "quantity": 1}},'
                f' {{"service": "api", "quantity": {value}}}]}}',
            ),
            http.post("/v1/quota/api/consume", headers=key, content=f'{{"quantity": {value}}}'),
            http.post(
                "/v1/quota/api/consume",
                headers=admin,
                content=f'{{"quantity": {value}, "customer_id": "cus_beta"}}',
            ),
        ]
        assert [a.status_code for a in answers] == [422] * 4, [a.text for a in answers]
        assert all("quantity" in a.text for a in answers)
    assert _keys(service) == []


def test_a_poisoned_request_in_a_group_commit_fails_alone(http, tenants, service, server):
    """Tenant A floods consume with 1e30 while tenant B consumes: every one of B's requests is
    answered 200 and stored exactly once, every one of A's is 422, none is a 5xx."""
    valid, poisoned = 120, 120
    statuses: dict[str, list[int]] = {"a": [], "b": []}
    lock = threading.Lock()
    start = threading.Barrier(8)

    def send(worker: int) -> None:
        tenant = "a" if worker % 2 else "b"
        headers = bearer(tenants["cus_alpha" if tenant == "a" else "cus_beta"])
        with httpx.Client(base_url=server.url, timeout=30, headers=headers) as client:
            start.wait()
            for i in range(valid // 4):
                body = (
                    {"quantity": 1e30, "id": f"p-{worker}-{i}"}
                    if tenant == "a"
                    else {"quantity": 1, "id": f"v-{worker}-{i}"}
                )
                status = client.post("/v1/quota/api/consume", json=body).status_code
                with lock:
                    statuses[tenant].append(status)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(8)))
    assert statuses["a"] == [422] * poisoned
    assert statuses["b"] == [200] * valid
    stored = _keys(service)
    assert len(stored) == valid and {c for c, _ in stored} == {"cus_beta"}
    assert service.quotas.status("api", customer_id="cus_beta").usage == valid


def test_a_consume_id_reused_for_another_request_is_409(http, tenants, service):
    key = bearer(tenants["cus_alpha"])
    service.quotas.set_override("api", 10, mode="hard", customer_id="cus_alpha")
    first = http.post("/v1/quota/api/consume", headers=key, json={"quantity": 10, "id": "pay-1"})
    assert first.status_code == 200
    replay = http.post("/v1/quota/api/consume", headers=key, json={"quantity": 10, "id": "pay-1"})
    assert (replay.status_code, replay.json()["replayed"]) == (200, True)
    for path, body in (
        ("/v1/quota/api/consume", {"quantity": 1, "id": "pay-1"}),
        ("/v1/quota/compute/consume", {"quantity": 10, "id": "pay-1"}),
    ):
        answer = http.post(path, headers=key, json=body)
        assert answer.status_code == 409
        assert answer.json()["code"] == "IDEMPOTENCY_CONFLICT"
        assert "pay-1" in answer.json()["error"]
    # the full hard limit still blocks new requests
    assert http.post("/v1/quota/api/consume", headers=key, json={"id": "new"}).status_code == 429
    assert len(_keys(service)) == 1


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/v1/usage", '{"service": "api", "quantity": 1, "id": "\\ud800"}', "id"),
        ("/v1/usage", '{"service": "api", "quantity": 1, "id": "a\\u0000b"}', "id"),
        (
            "/v1/usage",
            '{"service": "api", "quantity": 1, "metadata": {"k": "\\u0000"}}',
            "metadata",
        ),
        ("/v1/usage", '{"service": "api", "quantity": 1, "metadata": {"\\udfff": 1}}', "metadata"),
        ("/v1/quota/api/consume", '{"id": "\\ud800"}', "idempotency key"),
        ("/v1/quota/api/consume", '{"id": "dup\\u0000one"}', "idempotency key"),
        ("/v1/quota/api/consume", '{"metadata": {"k": "\\u0000"}}', "metadata"),
    ],
)
def test_nul_and_lone_surrogates_are_422_with_a_clear_message(
    http, tenants, service, path, body, field
):
    key = {**bearer(tenants["cus_alpha"]), "Content-Type": "application/json"}
    answer = http.post(path, headers=key, content=body)
    assert answer.status_code == 422, answer.text
    assert field in answer.text and ("NUL" in answer.text or "surrogate" in answer.text)
    # a NUL id is not cut at the NUL: the other one is refused too, nothing is stored
    assert http.post(path, headers=key, content=body.replace("one", "two")).status_code == 422
    assert _keys(service) == []


def test_an_admin_naming_a_customer_with_a_nul_is_422(http, tenants, service):
    admin = bearer(tenants["admin"])
    for path in ("/v1/quota", "/v1/quota/api"):
        answer = http.get(path, headers=admin, params={"customer_id": "cus_alpha\x00x"})
        assert answer.status_code == 422, answer.text
    consume = http.post(
        "/v1/quota/api/consume", headers=admin, json={"customer_id": "cus_alpha\u0000x"}
    )
    assert consume.status_code == 422
    assert _keys(service) == []
