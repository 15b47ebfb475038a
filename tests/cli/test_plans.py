import csv
import io
import json

PLAN_TABLE = """\
Available Plans
╔════════════════════════════════════════════════════════════╗
║ Plan       │ Price/Month │ Features                        ║
╠════════════╪═════════════╪═════════════════════════════════╣
║ Free       │ $0          │ 10K API requests, 1GB storage   ║
║ Starter    │ $29         │ 100K API requests, 10GB storage ║
║ Pro        │ $99         │ 1M API requests, 100GB storage  ║
║ Enterprise │ Custom      │ Unlimited, dedicated support    ║
╚════════════╧═════════════╧═════════════════════════════════╝
"""


def test_plan_list_draws_the_spec_table_with_hints(cli):
    result = cli("tenant", "billing", "plan", "list")
    assert result.exit_code == 0
    assert result.stdout == PLAN_TABLE + (
        "\nUse 'nself tenant billing plan show <plan>' for detailed information\n"
        "Use 'nself tenant billing subscription upgrade <plan>' to change plans\n"
    )


def test_subscription_plans_shows_the_same_table(cli):
    result = cli("tenant", "billing", "subscription", "plans")
    assert (result.exit_code, result.stdout) == (0, PLAN_TABLE)


def test_plan_list_as_json_keeps_prices_exact(cli):
    plans = json.loads(cli("tenant", "billing", "plan", "list", "--format=json").stdout)
    assert [p["plan"] for p in plans] == ["free", "starter", "pro", "enterprise"]
    pro = plans[2]
    assert (pro["price_monthly"], pro["price_yearly"]) == ("99.00", "990.00")
    assert pro["quotas"]["api"] == {
        "limit": "1000000.000000",
        "unit": "requests",
        "mode": "soft",
        "overage_price": "0.000008",
    }
    assert plans[3]["price_monthly"] is None and plans[3]["quotas"] == {}


def test_plan_list_as_csv(cli):
    rows = list(
        csv.DictReader(
            io.StringIO(cli("tenant", "billing", "plan", "list", "--format", "csv").stdout)
        )
    )
    assert [(r["plan"], r["price_monthly"]) for r in rows] == [
        ("free", "0.00"),
        ("starter", "29.00"),
        ("pro", "99.00"),
        ("enterprise", ""),
    ]


def test_plan_show_lists_quotas_as_the_spec(cli):
    result = cli("tenant", "billing", "plan", "show", "pro")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:7] == [
        "Plan Details: pro",
        "  api        : 1000000 requests",
        "  storage    : 100 GB-hours",
        "  bandwidth  : 500 GB",
        "  compute    : 50 CPU-hours",
        "  database   : 5000000 queries",
        "  functions  : 100000 invocations",
    ]


def test_free_plan_is_hard_limited_with_half_a_cpu_hour(cli):
    lines = cli("tenant", "billing", "plan", "show", "free").stdout.splitlines()
    assert "  compute    : 0.5 CPU-hours" in lines
    assert "Enforcement: hard" in lines


def test_enterprise_is_unlimited_and_custom(cli):
    lines = cli("tenant", "billing", "plan", "show", "enterprise").stdout.splitlines()
    assert "  api        : unlimited requests" in lines
    assert "Price: Custom" in lines


def test_unknown_plan_is_an_error(cli):
    result = cli("tenant", "billing", "plan", "show", "invalid-plan")
    assert result.exit_code == 1
    assert result.stderr == "Error: Plan not found: invalid-plan\n"
    assert result.stdout == ""


def test_plan_compare_shows_every_plan_side_by_side(cli):
    result = cli("tenant", "billing", "plan", "compare")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "Plan Comparison"
    assert "║ Service                 │ Free  │ Starter │ Pro     │ Enterprise ║" in lines
    assert "║ api (requests)          │ 10.0K │ 100.0K  │ 1.0M    │ Unlimited  ║" in lines


def test_plan_current_needs_a_subscription(cli, customer_id):
    assert cli("tenant", "billing", "plan", "current").stdout.startswith("Plan Details: pro\n")


def test_plan_current_without_subscription_is_an_error(cli, billing):
    billing.customers.create(email="a@example.com", name="A")
    result = cli("tenant", "billing", "plan", "current")
    assert (result.exit_code, result.stderr) == (1, "Error: No active subscription\n")


def test_plans_toml_is_applied_on_init(cli, root):
    (root / "plans.toml").write_text(
        '[plans.team]\nprice_monthly = 49\nprice_yearly = 490\ndescription = "Team"\ntier = 4\n'
        '[plans.team.quotas.api]\nlimit = 500000\nmode = "soft"\noverage_price = "0.000009"\n'
        + "".join(
            f'[plans.team.quotas.{s}]\nlimit = "unlimited"\n'
            for s in ("storage", "bandwidth", "compute", "database", "functions")
        )
        + '[plans.pro]\nprice_monthly = "109.50"\n'
    )
    shown = cli("tenant", "billing", "plan", "show", "team")
    assert shown.exit_code == 0, shown.stderr
    assert "  api        : 500000 requests" in shown.stdout.splitlines()
    assert "  storage    : unlimited GB-hours" in shown.stdout.splitlines()
    plans = {
        p["plan"]: p
        for p in json.loads(cli("tenant", "billing", "plan", "list", "--format=json").stdout)
    }
    assert plans["pro"]["price_monthly"] == "109.50"
    assert plans["pro"]["quotas"]["api"]["limit"] == "1000000.000000"


def test_an_invalid_plans_toml_is_one_clear_error(cli, root):
    (root / "plans.toml").write_text('[plans.team]\nprice_monthly = "lots"\n')
    result = cli("tenant", "billing", "plan", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Invalid plans.toml [plans.team] price_monthly")
    assert len(result.stderr.splitlines()) == 1


def test_operators_can_change_the_catalog_with_sql(cli, billing):
    billing.queries.run(
        "UPDATE billing_quotas SET limit_value = 2000000 "
        "WHERE plan_name = 'pro' AND service_name = 'api'"
    )
    assert (
        "  api        : 2000000 requests"
        in cli("tenant", "billing", "plan", "show", "pro").stdout.splitlines()
    )
