"""The catalog's start-up path (sqlite3 alone) against the SQLAlchemy path it stands in for."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nself_billing.services.catalog_startup import quick_plans
from nself_billing.settings import Settings
from nself_billing.store.catalog_sqlite import read_plans
from nself_billing.store.migrate import SCHEMA_REVISION

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

PLANS_TOML = """\
[plans.team]
price_monthly = "49.95"
price_yearly = 499
description = "Team"
tier = 4
[plans.team.quotas.compute]
limit = "0.5"
mode = "hard"
overage_price = "0.0000095"
[plans.team.quotas.api]
limit = "unlimited"
[plans.team.quotas.storage]
limit = 50
[plans.team.quotas.bandwidth]
limit = 100
[plans.team.quotas.database]
limit = 1000000
[plans.team.quotas.functions]
limit = 20000
"""


def _operator_rows(billing):  # type: ignore[no-untyped-def]
    # rows as an operator writes them with SQL: spec columns only, a service we do not meter,
    # a fractional limit, and a plan without quotas
    billing.queries.run(
        "INSERT INTO billing_plans (plan_name, price_monthly, price_yearly,"
        " description) VALUES ('legacy', 5, NULL, NULL)"
    )
    billing.queries.run(
        "INSERT INTO billing_quotas (plan_name, service_name, limit_value)"
        " VALUES ('legacy', 'storage', 2.25)"
    )
    billing.queries.run(
        "INSERT INTO billing_quotas (plan_name, service_name, limit_value)"
        " VALUES ('legacy', 'telepathy', 7)"
    )
    billing.queries.run(
        "INSERT INTO billing_plans (plan_name, price_monthly, tier) VALUES ('bare', 0.1, 9)"
    )


def test_it_reads_the_same_plans_as_the_sqlalchemy_path(billing, root):
    (root / "plans.toml").write_text(PLANS_TOML)
    from nself_billing.bootstrap import apply_plans_file

    apply_plans_file(billing, force=True)
    _operator_rows(billing)
    expected = billing.plans.list()
    assert {"team", "legacy", "bare"} <= {plan.name for plan in expected}
    assert read_plans(billing.settings.sqlite_path, SCHEMA_REVISION) == expected
    assert quick_plans(billing.settings) == expected


def test_it_stands_aside_when_the_database_is_not_ready(billing, env, root, tmp_path):
    settings = billing.settings
    assert read_plans(tmp_path / "missing.db", SCHEMA_REVISION) is None
    assert read_plans(settings.sqlite_path, "0001") is None  # another schema revision
    billing.queries.run("UPDATE billing_plans SET price_monthly = 'lots' WHERE plan_name = 'pro'")
    assert read_plans(settings.sqlite_path, SCHEMA_REVISION) is None  # a value it cannot take
    billing.queries.run("UPDATE billing_plans SET price_monthly = 99 WHERE plan_name = 'pro'")
    assert quick_plans(settings) == billing.plans.list()
    (root / "plans.toml").write_text(PLANS_TOML)  # not applied to this database yet
    assert quick_plans(Settings.from_env(env)) is None
    assert (
        quick_plans(Settings.from_env(env | {"BILLING_DATABASE_URL": "postgresql://x/y"})) is None
    )


def test_plan_list_on_a_ready_database_does_not_load_sqlalchemy(billing, env):
    _operator_rows(billing)
    script = (
        "import sys\n"
        "from nself_billing.cli.main import main\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'),"
        " file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, "tenant", "billing", "plan", "list", "--format=json"],
        env=env,
        capture_output=True,
        text=True,
        cwd=os.fspath(Path(env["NSELF_ROOT"])),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "[]"
    listed = [plan["plan"] for plan in json.loads(result.stdout)]
    assert listed == [plan.name for plan in billing.plans.list()]
