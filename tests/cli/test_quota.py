"""``nself tenant billing quota`` and ``quota override``, through the real entry point."""

import csv
import io
import json

import pytest

from nself_billing import Billing


@pytest.fixture
def subscribed(cli, env):
    result = cli(
        "tenant",
        "billing",
        "customer",
        "create",
        "--email",
        "a@example.com",
        "--name",
        "A",
        "--id",
        "cus_quota000001",
        "--plan",
        "pro",
    )
    assert result.exit_code == 0, result.output
    return "cus_quota000001"


def _record(env, service, quantity):
    with Billing.from_env(env) as billing:
        billing.usage.record(service, quantity)


def test_limits_table_as_in_the_spec(cli, subscribed):
    result = cli("tenant", "billing", "quota")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "QUOTA LIMITS" in lines[1]
    assert lines[3].startswith("║ Plan: pro")
    assert [cell.strip() for cell in lines[5].strip("║").split("│")] == [
        "Service",
        "Limit",
        "Type",
        "Mode",
    ]
    rows = [[cell.strip() for cell in line.strip("║").split("│")] for line in lines[7:13]]
    assert rows == [
        ["api", "1.0M", "requests", "soft"],
        ["storage", "100.0GB", "GB-hours", "soft"],
        ["bandwidth", "500.0GB", "GB", "soft"],
        ["compute", "50.0", "CPU-hours", "soft"],
        ["database", "5.0M", "queries", "soft"],
        ["functions", "100.0K", "invocations", "soft"],
    ]


def test_usage_table_shows_available_and_bands(cli, env, subscribed):
    _record(env, "api", 45200)
    _record(env, "compute", "46")
    result = cli("tenant", "billing", "quota", "--usage")
    assert result.exit_code == 0, result.stderr
    rows = {
        line.split("│")[0].strip("║ "): [c.strip(" ║") for c in line.split("│")]
        for line in result.stdout.splitlines()
        if "│" in line
    }
    assert rows["api"] == ["api", "1.0M", "45.2K", "954.8K", "✓ 4%"]
    assert rows["compute"][1:] == ["50.0", "46.0", "4.0", "⚠ 92%"]
    assert "⚠ OVER - Quota exceeded" in result.stdout


def test_json_and_csv_formats(cli, env, subscribed):
    _record(env, "api", 800000)
    data = json.loads(
        cli("tenant", "billing", "quota", "--service=api", "--usage", "--format=json").stdout
    )
    assert data == [
        {
            "service": "api",
            "quota": "1000000",
            "unit": "requests",
            "mode": "soft",
            "source": "plan",
            "usage": "800000",
            "available": "200000",
            "percent": 80,
            "status": "warning",
            "period_start": data[0]["period_start"],
            "period_end": data[0]["period_end"],
        }
    ]
    rows = list(
        csv.DictReader(io.StringIO(cli("tenant", "billing", "quota", "--format=csv").stdout))
    )
    assert [r["service"] for r in rows][:2] == ["api", "storage"]
    assert rows[0]["quota"] == "1000000" and "usage" not in rows[0]


def test_alerts_lists_services_at_75_percent_or_more(cli, env, subscribed):
    assert "No quota alerts" in cli("tenant", "billing", "quota", "--alerts").stdout
    _record(env, "api", 950000)
    result = cli("tenant", "billing", "quota", "--alerts")
    assert result.exit_code == 0, result.stderr
    assert "QUOTA ALERTS" in result.stdout
    row = next(line for line in result.stdout.splitlines() if line.startswith("║ api"))
    assert [c.strip(" ║") for c in row.split("│")][1:] == ["1.0M", "950.0K", "⚠ 95%", "75%, 90%"]
    assert "storage" not in result.stdout
    data = json.loads(cli("tenant", "billing", "quota", "--alerts", "--format=json").stdout)
    assert [a["threshold"] for a in data[0]["alerts"]] == [75, 90]


def test_override_command_sets_shows_and_clears(cli, subscribed):
    result = cli("tenant", "billing", "quota", "override", "api", "2000000", "--mode", "hard")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Override set: api = 2.0M requests (hard) for cus_quota000001\n"
    table = cli("tenant", "billing", "quota").stdout
    assert "2.0M *" in table and "per-customer override" in table
    assert cli("tenant", "billing", "quota", "override", "storage", "unlimited").stdout.startswith(
        "Override set: storage = unlimited"
    )
    cleared = cli("tenant", "billing", "quota", "override", "api", "--clear")
    assert cleared.stdout == "Override cleared: api is back to the plan's quota (1.0M)\n"


@pytest.mark.parametrize(
    "args, code, message",
    [
        (("quota", "--service=nope"), 1, "Error: Unknown service: nope"),
        (("quota", "override", "nope", "5"), 1, "Error: Unknown service: nope"),
        (("quota", "override", "api", "lots"), 1, "Error: Invalid limit: lots"),
        (("quota", "override", "api"), 2, "Missing argument 'LIMIT'"),
        (("quota", "--format=xml"), 2, "Invalid value for '--format'"),
    ],
)
def test_bad_input_exits_with_one_line(cli, subscribed, args, code, message):
    result = cli("tenant", "billing", *args)
    assert result.exit_code == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_no_subscription_exits_1(cli):
    cli(
        "tenant",
        "billing",
        "customer",
        "create",
        "--email",
        "b@example.com",
        "--name",
        "B",
        "--id",
        "cus_nosub00000001",
    )
    result = cli("tenant", "billing", "quota")
    assert (result.exit_code, result.stderr) == (1, "Error: No active subscription\n")


def test_enterprise_is_unlimited_and_shown_as_such(cli, env):
    cli(
        "tenant",
        "billing",
        "customer",
        "create",
        "--email",
        "e@example.com",
        "--name",
        "E",
        "--id",
        "cus_enterprise001",
        "--plan",
        "enterprise",
    )
    _record(env, "api", 10**9)
    result = cli("tenant", "billing", "quota", "--usage")
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("║ api"))
    assert [c.strip(" ║") for c in row.split("│")][1:] == [
        "Unlimited",
        "1.0B",
        "Unlimited",
        "✓ Unlimited",
    ]
    assert "No quota alerts" in cli("tenant", "billing", "quota", "--alerts").stdout
