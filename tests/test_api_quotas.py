"""The spec's quota functions."""

import json

import pytest

import nself_billing as nb
from nself_billing.api import use_billing


@pytest.fixture
def api(billing, customer_id):
    use_billing(billing)
    yield nb
    use_billing(None)


def test_status_json_as_in_the_spec(api, billing):
    billing.usage.record("api", 45200)
    assert json.loads(api.billing_get_quota_status("api")) == {
        "service": "api",
        "usage": 45200,
        "quota": 1000000,
        "percent": 4,
        "available": 954800,
        "mode": "soft",
        "status": "ok",
        "unit": "requests",
        "period_start": "2026-01-15T00:00:00+00:00",
        "period_end": "2026-02-15T00:00:00+00:00",
    }
    api.quota_set_override("compute", "unlimited")
    status = json.loads(api.billing_get_quota_status("compute"))
    assert (status["quota"], status["status"]) == (None, "unlimited")


def test_check_enforce_and_consume_return_codes(api, billing, capsys):
    assert api.billing_check_quota("api", 1000000) == 0
    assert api.billing_check_quota("api", 1000001) == 1
    assert api.quota_enforce("api", 1000001) == 0  # soft: allowed, with the spec's warning
    assert capsys.readouterr().err == "Warning: Quota exceeded for api (soft limit)\n"
    api.quota_set_override("functions", 2, mode="hard")
    assert api.quota_enforce("functions", 3) == 1
    assert [api.quota_consume("functions", 1, {"function": "f"}) for _ in range(3)] == [0, 0, 1]
    assert api.quota_consume("functions", 1, idempotency_key="x") == 1
    assert api.quota_clear_override("functions") is True
    assert api.quota_consume("functions", 1, idempotency_key="x") == 0
    assert api.quota_consume("functions", 1, idempotency_key="x") == 0
    assert json.loads(api.billing_get_quota_status("functions"))["usage"] == 3


def test_get_functions_print_and_return(api, billing, capsys):
    lines = api.quota_get_all("true", "table")
    assert len(lines) == 6 and "QUOTA LIMITS" in capsys.readouterr().out
    line = api.quota_get_service("api", "true", "json")
    assert line.service == "api"
    assert json.loads(capsys.readouterr().out)[0]["percent"] == 0
    billing.usage.record("database", 4_600_000)
    hot = api.quota_get_alerts("table")
    assert [h.service for h in hot] == ["database"]
    assert "⚠ 92%" in capsys.readouterr().out
    with pytest.raises(nb.UnknownService):
        api.quota_get_service("nope")
