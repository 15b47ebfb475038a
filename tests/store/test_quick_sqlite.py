"""The start-up read path (sqlite3 alone) against the use cases it stands in for."""

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nself_billing.services.quick_reads import QuickReads
from nself_billing.settings import Settings

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


def utc(*args):  # type: ignore[no-untyped-def]
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def busy(billing, clock):  # type: ignore[no-untyped-def]
    """A customer with usage, an override, an upgrade invoice and a closed period; another
    customer without a subscription."""
    billing.customers.create(email="a@example.com", name="A", customer_id="cus_a", phone="+1 555")
    billing.subscriptions.start("cus_a", "starter")
    billing.usage.record("api", 120_000, customer_id="cus_a", at=utc(2026, 1, 16))
    billing.usage.record("storage", "2.5", customer_id="cus_a", at=utc(2026, 1, 20, 5))
    billing.usage.record("database", 510_000, customer_id="cus_a", at=utc(2026, 2, 1))
    billing.quotas.set_override("compute", "0.25", mode="hard", customer_id="cus_a")
    billing.quotas.set_override("functions", "unlimited", customer_id="cus_a")
    clock.now = utc(2026, 2, 20, 12)
    billing.cycle.run()
    billing.usage.record("api", 7, customer_id="cus_a", at=utc(2026, 2, 18))
    billing.subscriptions.upgrade("cus_a", "pro")
    billing.customers.create(email="b@example.com", name="B", customer_id="cus_b")
    return billing


def _quick(billing, clock, customer):  # type: ignore[no-untyped-def]
    quick = QuickReads.open(billing.settings, customer, clock=clock)
    assert quick is not None
    return quick


def test_it_answers_as_the_use_cases(busy, clock):  # type: ignore[no-untyped-def]
    billing = busy
    quick = _quick(billing, clock, "cus_a")
    try:
        assert quick.customer() == billing.customers.get("cus_a")
        assert quick.subscription() == billing.subscriptions.current("cus_a")
        assert quick.current_plan() == billing.plans.current("cus_a")
        assert quick.invoices() == [
            invoice.__class__(**{**invoice.__dict__, "lines": ()})
            for invoice in billing.invoices.list("cus_a")
        ]
        assert len(quick.invoices(1)) == 1
        for options in (
            {},
            {"period": "last-month", "detailed": True},
            {"start": "2026-01-01", "end": "2026-02-28", "service": "api", "detailed": True},
        ):
            ours = quick.usage_report(**options)
            theirs = billing.usage.summary(customer_id="cus_a", **options)
            assert ours.services == theirs.services and ours.period == theirs.period
            assert [tuple(d) for d in ours.daily] == [
                (d.day, d.service, d.quantity, d.events) for d in theirs.daily
            ]
        limits = quick.limits()
        assert limits == billing.quotas.limits("cus_a", fresh=True)
        for with_usage in (False, True):
            assert quick.quota_lines(limits, None, with_usage=with_usage) == (
                billing.quotas.statuses(customer_id="cus_a", with_usage=with_usage)
            )
    finally:
        quick.close()


def test_it_raises_what_the_use_cases_raise(busy, clock):  # type: ignore[no-untyped-def]
    billing = busy
    several = QuickReads.open(billing.settings, None, clock=clock)
    assert several is not None
    with pytest.raises(Exception) as raised:
        several.customer()
    assert raised.value.message.startswith(  # type: ignore[attr-defined]
        "No customer ID found: several customers exist (cus_a, cus_b)"
    )
    without = _quick(billing, clock, "cus_b")
    for read in (without.subscription, without.limits):
        with pytest.raises(Exception, match="^No active subscription$"):
            read()
    assert without.usage_report().plan_name is None
    with pytest.raises(Exception, match="^Customer not found: cus_x$"):
        _quick(billing, clock, "cus_x").customer()
    with pytest.raises(Exception, match="^Unknown service: teleport"):
        _quick(billing, clock, "cus_a").quota_lines(
            _quick(billing, clock, "cus_a").limits(), ["teleport"], with_usage=True
        )


def test_it_stands_aside_unless_the_database_is_ready_and_local(billing, env, root, tmp_path):  # type: ignore[no-untyped-def]
    settings = billing.settings
    assert QuickReads.open(settings) is not None
    assert QuickReads.open(Settings.from_env(env | {"BILLING_PROVIDER": "stripe"})) is None
    assert QuickReads.open(Settings.from_env(env | {"BILLING_DATA_DIR": str(tmp_path)})) is None
    (root / "plans.toml").write_text("[plans.pro]\nprice_monthly = 100\n")  # not applied yet
    assert QuickReads.open(Settings.from_env(env)) is None


@pytest.mark.parametrize(
    "command",
    [
        ("usage",),
        ("usage", "--detailed", "--format=json"),
        ("quota", "--usage"),
        ("quota",),
        ("customer", "show"),
        ("subscription", "show"),
        ("invoice", "list"),
        ("plan", "current"),
    ],
)
def test_read_commands_on_a_ready_database_do_not_load_sqlalchemy(cli, env, command):  # type: ignore[no-untyped-def]
    created = cli(
        "tenant", "billing", "customer", "create", "--email=a@b.test", "--name=A", "--plan=pro"
    )
    assert created.exit_code == 0, created.stderr
    assert cli("tenant", "billing", "usage", "record", "api", "1200").exit_code == 0
    expected = cli("tenant", "billing", *command)
    assert expected.exit_code == 0, expected.stderr
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
        [sys.executable, "-c", script, "tenant", "billing", *command],
        env=env,
        capture_output=True,
        text=True,
        cwd=os.fspath(Path(env["NSELF_ROOT"])),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "[]"
    assert result.stdout == expected.stdout
