"""examples/api_handler.py, the Python twin of the spec's "Complete integration example",
run as a user runs it (a separate process on the configured database)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nself_billing import Billing

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "api_handler.py"


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )


def _totals(env: dict[str, str]) -> dict[str, str]:
    with Billing.from_env(env) as billing:
        rows = billing.queries.render(
            "SELECT service_name, COUNT(*) FROM billing_usage_records GROUP BY service_name"
            " ORDER BY service_name",
            "csv",
        ).splitlines()[1:]
    return dict(row.split(",") for row in rows)


@pytest.fixture
def tenant(billing: Billing) -> str:
    customer = billing.customers.create(
        email="api@example.com", name="API Tenant", customer_id="cus_example"
    )
    billing.subscriptions.start(customer.customer_id, "free")
    return customer.customer_id


def test_requests_are_enforced_and_tracked(env, tenant, tmp_path):
    upload = tmp_path / "photo.jpg"
    upload.write_bytes(b"x" * 4096)
    done = _run(env, str(upload), str(tmp_path / "storage"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == 'HTTP 200 {"ok": "true"}'
    assert (tmp_path / "storage" / "photo.jpg").exists()
    assert _totals(env) == {"api": "1", "functions": "1", "storage": "1"}


def test_an_exhausted_hard_quota_answers_429_and_records_nothing(env, tenant, billing):
    billing.quotas.set_override("api", 1, mode="hard", customer_id=tenant)
    assert _run(env).returncode == 0
    blocked = _run(env)
    assert blocked.returncode == 1
    assert blocked.stdout.splitlines()[0] == (
        'HTTP 429 {"error": "API quota exceeded", "code": "QUOTA_EXCEEDED"}'
    )
    assert _totals(env)["api"] == "1"
