"""Issue 15 over a real socket: small ``POST /v1/usage`` requests are written in groups (group
commit), and each is still answered as if it had come alone: a duplicate inside one group or
across groups counts once, and a request that cannot be written fails alone while every other
request of its group is stored exactly once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from nself_billing.store.loop_connections import APPLICATION_NAME

from .conftest import bearer

SENDERS = 16


def _stored(service) -> tuple[list[tuple[str, str]], int]:
    with service.context.db.read() as conn:
        keys = [
            (c, k)
            for c, k in conn.exec_driver_sql(
                "SELECT customer_id, idempotency_key FROM billing_usage_records"
                " ORDER BY customer_id, idempotency_key"
            )
        ]
        rolled = conn.exec_driver_sql(
            "SELECT COALESCE(SUM(events), 0) FROM billing_usage_daily"
        ).scalar_one()
    return keys, int(rolled)


def _flood(server, send) -> None:  # type: ignore[no-untyped-def]
    start = threading.Barrier(SENDERS)

    def run(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            start.wait()
            send(client, worker)

    with ThreadPoolExecutor(SENDERS) as pool:
        list(pool.map(run, range(SENDERS)))


def test_a_duplicate_inside_a_group_and_across_groups_counts_once(tenants, service, server):
    """Every sender sends the same 30 ids (one event a request, and a few 10-event requests
    that repeat them): each id is recorded once, answered "recorded" exactly once, and the
    rollups count each once."""
    ids = [f"evt-{n}" for n in range(30)]
    recorded: dict[str, int] = {}
    answers: list[int] = []
    lock = threading.Lock()
    headers = bearer(tenants["cus_alpha"])

    def send(client: httpx.Client, worker: int) -> None:
        for n, event_id in enumerate(ids):
            body: dict = {"service": "api", "quantity": 1, "id": event_id}
            if (worker + n) % 7 == 0:  # ten events, some repeated inside the request
                body = {
                    "events": [
                        {"service": "api", "quantity": 1, "id": ids[(n + i) % 30]}
                        for i in (0, 1, 2, 3, 4, 0, 1, 5, 6, 7)
                    ]
                }
            answer = client.post("/v1/usage", headers=headers, json=body)
            with lock:
                answers.append(answer.status_code)
                result = answer.json()
                assert result["recorded"] + result["duplicates"] == result["accepted"]
                if "events" not in body:
                    recorded[event_id] = recorded.get(event_id, 0) + result["recorded"]
                else:
                    recorded["batch"] = recorded.get("batch", 0) + result["recorded"]

    _flood(server, send)
    assert answers == [200] * len(answers)
    assert sum(recorded.values()) == len(ids)
    keys, rolled = _stored(service)
    assert keys == [("cus_alpha", i) for i in sorted(ids)]
    assert rolled == len(ids)
    assert service.quotas.status("api", customer_id="cus_alpha").usage == len(ids)
    assert server.server.config.app.state.usage_groups.largest_group > 1, "no group was formed"


def test_a_poisoned_request_in_a_group_fails_alone(tenants, service, server):
    """An admin floods ``POST /v1/usage`` with events of a customer that does not exist (it
    passes validation and fails only when written) while tenants send valid events: each
    poisoned request is 422 naming the customer, every valid one 200 and stored once."""
    statuses: dict[str, list[int]] = {"poison": [], "valid": []}
    lock = threading.Lock()

    def send(client: httpx.Client, worker: int) -> None:
        for n in range(15):
            if worker % 4 == 0:
                kind = "poison"
                headers = bearer(tenants["admin"])
                body: dict = {
                    "service": "api",
                    "quantity": 1,
                    "id": f"p-{worker}-{n}",
                    "customer_id": "cus_nobody",
                }
            else:
                kind = "valid"
                customer = "cus_alpha" if worker % 2 else "cus_beta"
                headers = bearer(tenants[customer])
                body = {"service": "api", "quantity": 1, "id": f"v-{worker}-{n}"}
                if n % 5 == 0:
                    body = {"events": [{**body, "id": f"v-{worker}-{n}-{i}"} for i in range(10)]}
            answer = client.post("/v1/usage", headers=headers, json=body)
            if kind == "poison":
                assert "cus_nobody" in answer.text
            with lock:
                statuses[kind].append(answer.status_code)

    _flood(server, send)
    assert statuses["poison"] == [422] * 60
    assert statuses["valid"] == [200] * 180
    keys, rolled = _stored(service)
    # per valid sender: 12 single events and 3 requests of 10
    assert len(keys) == len(set(keys)) == 12 * (12 + 3 * 10)
    assert {c for c, _ in keys} == {"cus_alpha", "cus_beta"}
    assert rolled == len(keys)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_ending_the_loop_sessions_under_load_loses_no_acknowledged_event(tenants, service, server):
    """On PostgreSQL the groups are written by the event loop over its own sessions
    (``nself-billing-loop``). The server ends those sessions again and again under one-event
    load: a group whose session ended is written request by request in a thread, so every
    request is still answered 200, and every acknowledged event is stored exactly once."""
    acknowledged: list[str] = []
    statuses: list[int] = []
    lock = threading.Lock()
    running = threading.Event()
    running.set()
    ended: list[int] = []

    def send(client: httpx.Client, worker: int) -> None:
        headers = bearer(tenants["cus_alpha" if worker % 2 else "cus_beta"])
        n = 0
        while running.is_set():
            event_id = f"s-{worker}-{n}"
            n += 1
            answer = client.post(
                "/v1/usage", headers=headers, json={"service": "api", "quantity": 1, "id": event_id}
            )
            with lock:
                statuses.append(answer.status_code)
                if answer.status_code == 200:
                    assert answer.json()["accepted"] == 1
                    acknowledged.append(event_id)

    def end_loop_sessions() -> None:
        try:
            for _ in range(6):
                time.sleep(0.4)
                with service.context.db.read(transaction=False) as conn:
                    ended.extend(
                        conn.exec_driver_sql(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE application_name = %(name)s AND datname = current_database()",
                            {"name": APPLICATION_NAME},
                        ).scalars()
                    )
            time.sleep(0.4)
        finally:
            running.clear()

    killer = threading.Thread(target=end_loop_sessions)
    killer.start()
    _flood(server, send)
    killer.join()
    assert any(ended), "no loop session was ended"
    assert statuses == [200] * len(statuses)
    keys, rolled = _stored(service)
    assert sorted(key for _, key in keys) == sorted(acknowledged)
    assert len(keys) == len(set(keys)) == rolled
