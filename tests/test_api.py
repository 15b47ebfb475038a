"""The spec's function-style API for the foundation."""

import json

import pytest

import nself_billing as nb
from nself_billing.api import use_billing


@pytest.fixture
def api(billing):
    use_billing(billing)
    yield nb
    use_billing(None)


def test_billing_init_reports_success_and_failure(env, monkeypatch, capsys, tmp_path):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        assert nb.billing_init() == 0
        assert capsys.readouterr().out.startswith("Billing initialized (")
        assert nb.billing_init("true") == 0
        assert capsys.readouterr().out == ""
        monkeypatch.setenv("NSELF_LOG_LEVEL", "loud")
        assert nb.billing_init() == 1
        assert capsys.readouterr().err.startswith("Error: Invalid NSELF_LOG_LEVEL: loud")
    finally:
        nb.billing_close()


def test_customer_id_and_its_absence(api, billing):
    with pytest.raises(nb.NoCustomer, match="^No customer ID found$"):
        api.billing_get_customer_id()
    billing.customers.create(email="a@example.com", name="A", customer_id="cus_only")
    assert api.billing_get_customer_id() == "cus_only"


def test_db_query_formats_and_bound_parameters(api, customer_id):
    sql = (
        "SELECT plan_name, limit_value FROM billing_quotas WHERE plan_name = :plan"
        " AND service_name IN ('api', 'compute') ORDER BY service_name"
    )
    lines = api.billing_db_query(sql, "tuples", {"plan": "free"}).splitlines()
    assert [line.split("|")[0] for line in lines] == ["free", "free"]
    assert [float(line.split("|")[1]) for line in lines] == [10000, 0.5]
    rows = json.loads(api.billing_db_query(sql, "json", {"plan": "pro"}))
    assert [r["plan_name"] for r in rows] == ["pro", "pro"]
    assert api.billing_db_query(sql, "csv", {"plan": "pro"}).splitlines()[0] == (
        "plan_name,limit_value"
    )
    count = api.billing_db_query(
        "SELECT COUNT(*) FROM billing_usage_records WHERE service_name='api';"
    )
    assert count == "0"


def test_db_query_treats_parameters_as_data(api, customer_id):
    attack = "pro' OR '1'='1"
    assert (
        api.billing_db_query(
            "SELECT plan_name FROM billing_plans WHERE plan_name = :p", params={"p": attack}
        )
        == ""
    )


def test_db_query_errors_are_billing_errors(api):
    with pytest.raises(nb.DatabaseError, match="^Database error: "):
        api.billing_db_query("SELECT * FROM no_such_table")
    with pytest.raises(nb.InvalidInput):
        api.billing_db_query("SELECT 1", "xml")


def test_plan_functions_print_like_the_bash_tool_and_return_data(api, customer_id, capsys):
    plans = api.stripe_plans_list()
    assert [p.name for p in plans] == ["free", "starter", "pro", "enterprise"]
    assert capsys.readouterr().out.startswith("Available Plans\n╔")
    assert api.stripe_plan_show("pro").price_monthly == 99
    assert capsys.readouterr().out.startswith("Plan Details: pro\n")
    assert api.stripe_plan_current().name == "pro"
    assert len(api.stripe_plans_compare()) == 4
    with pytest.raises(nb.PlanNotFound, match="^Plan not found: gold$"):
        api.stripe_plan_show("gold")


def test_config_and_connection_checks(api, customer_id, capsys):
    assert api.billing_validate_config() == 0
    assert api.billing_test_db_connection() is True
    # the local provider: there is no Stripe to reach
    assert api.billing_test_stripe_connection() is False
    assert capsys.readouterr().err == ""


def test_customer_show_and_update_functions(api, customer_id, capsys):
    shown = api.stripe_customer_show()
    assert shown.customer_id == customer_id
    assert capsys.readouterr().out.startswith(f"Customer ID: {customer_id}\n")
    updated = api.stripe_customer_update(email="new@example.com", phone="+1-555-0123")
    assert (updated.email, updated.phone) == ("new@example.com", "+1-555-0123")
    with pytest.raises(nb.InvalidInput, match="^No parameters provided"):
        api.stripe_customer_update()
    with pytest.raises(nb.InvalidInput):
        api.stripe_customer_update(email="not-an-email")
