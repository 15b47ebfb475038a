"""``apikey create|list|revoke`` through the real entry point, both backends."""

from __future__ import annotations

import json

from nself_billing import Billing


def _create_customer(cli, customer_id: str = "cus_key000000001") -> str:
    result = cli(
        "tenant",
        "billing",
        "customer",
        "create",
        "--email",
        "k@example.com",
        "--name",
        "Keys",
        "--id",
        customer_id,
        "--plan",
        "pro",
    )
    assert result.exit_code == 0, result.output
    return customer_id


def test_create_prints_the_key_once_and_stores_only_its_hash(cli, env):
    customer = _create_customer(cli)
    result = cli("tenant", "billing", "apikey", "create", "--name", "backend")
    assert result.exit_code == 0, result.stderr
    first, key = result.stdout.splitlines()
    assert first.startswith("API key created: ") and first.endswith(f"(customer:{customer})")
    assert key.startswith("nsb_")
    assert result.stderr.strip() == "Store this key now: it is not shown again."
    with Billing.from_env(env) as billing:
        assert billing.apikeys.authenticate(key).customer_id == customer
        listed = cli("tenant", "billing", "apikey", "list", "--format", "json")
        assert key not in listed.stdout
        with billing.context.db.read() as conn:
            hashes = [r[0] for r in conn.exec_driver_sql("SELECT key_hash FROM billing_api_keys")]
        assert key not in hashes


def test_admin_keys_and_the_key_list(cli):
    _create_customer(cli)
    assert cli("tenant", "billing", "apikey", "create", "--admin", "--name", "ops").exit_code == 0
    assert (
        cli("tenant", "billing", "apikey", "create", "--customer", "cus_key000000001").exit_code
        == 0
    )
    listed = json.loads(cli("tenant", "billing", "apikey", "list", "--format", "json").stdout)
    assert sorted(k["scope"] for k in listed) == ["admin", "customer:cus_key000000001"]
    table = cli("tenant", "billing", "apikey", "list").stdout
    assert "API KEYS" in table and "ops" in table


def test_revoke_and_its_errors(cli, env):
    _create_customer(cli)
    key = cli("tenant", "billing", "apikey", "create").stdout.splitlines()[1]
    key_id = key.split("_")[1]
    result = cli("tenant", "billing", "apikey", "revoke", key_id)
    assert (result.exit_code, result.stdout) == (0, f"API key revoked: {key_id}\n")
    listed = json.loads(cli("tenant", "billing", "apikey", "list", "--format", "json").stdout)
    assert listed[0]["revoked_at"] is not None
    missing = cli("tenant", "billing", "apikey", "revoke", "nope")
    assert (missing.exit_code, missing.stderr) == (1, "Error: API key not found: nope\n")


def test_create_refuses_unknown_customers_and_misuse(cli):
    _create_customer(cli)
    unknown = cli("tenant", "billing", "apikey", "create", "--customer", "cus_nobody")
    assert (unknown.exit_code, unknown.stderr) == (1, "Error: Customer not found: cus_nobody\n")
    both = cli("tenant", "billing", "apikey", "create", "--admin", "--customer", "cus_key000000001")
    assert both.exit_code == 2
