"""examples/quota_app.py served over real HTTP: 200 within the quota, the spec's 429 past it."""

import importlib.util
import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "quota_app.py"


def _load_example():
    spec = importlib.util.spec_from_file_location("quota_app", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def base_url(billing, customer_id):
    server = _load_example().serve(billing, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_requests_past_a_hard_api_quota_get_the_spec_429(base_url, billing):
    billing.quotas.set_override("api", 3, mode="hard")
    answers = [_get(f"{base_url}/api/users") for _ in range(5)]
    assert [a[0] for a in answers] == [200, 200, 200, 429, 429]
    assert answers[3] == (
        429,
        "application/json",
        b'{"error":"API quota exceeded","code":"QUOTA_EXCEEDED"}',
    )
    assert json.loads(answers[0][2]) == {"ok": True, "endpoint": "/api/users", "method": "GET"}
    assert billing.quotas.status("api").usage == 3


def test_concurrent_requests_never_pass_the_limit(base_url, billing):
    billing.quotas.set_override("api", 10, mode="hard")
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda i: _get(f"{base_url}/api/items/{i}")[0], range(30)))
    assert sorted(codes) == [200] * 10 + [429] * 20
    assert billing.quotas.status("api").usage == 10


def test_a_retried_request_is_not_charged_twice(base_url, billing):
    billing.quotas.set_override("api", 1, mode="hard")
    key = {"Idempotency-Key": "req-42"}
    assert _get(f"{base_url}/api/pay", key)[0] == 200
    assert _get(f"{base_url}/api/pay", key)[0] == 200
    assert _get(f"{base_url}/api/other")[0] == 429


def test_a_soft_limit_never_answers_429(base_url, billing):
    billing.quotas.set_override("api", 1)  # the pro plan's mode: soft
    assert [_get(f"{base_url}/x")[0] for _ in range(3)] == [200, 200, 200]


def test_unknown_tenant_is_404(base_url):
    status, _, body = _get(f"{base_url}/x", {"X-Customer-Id": "cus_nobody0000001"})
    assert (status, json.loads(body)) == (404, {"error": "No active subscription"})
