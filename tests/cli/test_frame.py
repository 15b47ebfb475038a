"""The command frame: canonical and old forms, usage errors, one-line errors, no tracebacks."""

import os
import subprocess
import sys

import pytest

from tests.conftest import CONFIG_VARS

DEPRECATION = "Warning: 'nself billing' is deprecated; use 'nself tenant billing' instead.\n"


def test_the_old_form_runs_the_same_command_with_one_warning(cli):
    new = cli("tenant", "billing", "plan", "list")
    old = cli("billing", "plan", "list")
    assert old.exit_code == 0
    assert old.stdout == new.stdout
    assert old.stderr == DEPRECATION
    assert new.stderr == ""


@pytest.mark.parametrize(
    "args",
    [
        ("tenant", "billing", "bogus"),
        ("tenant", "billing", "plan", "list", "--bogus"),
        ("tenant", "billing", "plan", "show"),
        ("tenant", "billing", "plan", "list", "--format=xml"),
    ],
)
def test_misuse_exits_2_with_usage(cli, args):
    result = cli(*args)
    assert result.exit_code == 2
    assert "Usage: nself" in result.stderr


def test_every_command_has_help(cli):
    from nself_billing.cli.main import billing

    def walk(group, path):
        for name, command in group.commands.items():
            yield (*path, name), command
            if hasattr(command, "commands"):
                yield from walk(command, (*path, name))

    for path, command in walk(billing, ()):
        assert command.help, f"{' '.join(path)} has no help text"
        result = cli("tenant", "billing", *path, "--help")
        assert result.exit_code == 0, path


def test_a_malformed_dotenv_is_one_error_line(cli, root):
    (root / ".env").write_text("GOOD=1\nthis line is not an assignment\n")
    result = cli("tenant", "billing", "plan", "list")
    assert result.exit_code == 1
    assert result.stderr == ("Error: Malformed .env at line 2: 'this line is not an assignment'\n")


def test_an_unreachable_database_is_a_clear_error(cli):
    result = cli(
        "tenant",
        "billing",
        "plan",
        "list",
        extra_env={
            "BILLING_DATABASE_URL": "",
            "BILLING_DB_HOST": "127.0.0.1",
            "BILLING_DB_PORT": "1",
            "BILLING_DB_PASSWORD": "s3cret-pw",
        },
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Database connection failed: ")
    assert len(result.stderr.splitlines()) == 1
    assert "s3cret-pw" not in result.stderr


def test_an_invalid_log_level_is_a_config_error(cli):
    result = cli("tenant", "billing", "plan", "list", extra_env={"NSELF_LOG_LEVEL": "loud"})
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: Invalid NSELF_LOG_LEVEL: loud (expected one of: debug, info, warning, error)\n",
    )


INJECTIONS = [
    "x'; DROP TABLE billing_plans; --",
    "' OR '1'='1",
    'pro"; DELETE FROM billing_quotas',
]


@pytest.mark.parametrize("attack", INJECTIONS)
def test_sql_injection_through_options_is_inert(cli, customer_id, billing, attack):
    assert cli("tenant", "billing", "plan", "show", attack).stderr == (
        f"Error: Plan not found: {attack}\n"
    )
    updated = cli("tenant", "billing", "customer", "update", f"--name={attack}")
    assert updated.exit_code == 0
    assert billing.customers.get(customer_id).name == attack
    chosen = cli("tenant", "billing", "--customer", attack, "customer", "show")
    assert chosen.exit_code == 1
    assert billing.queries.render("SELECT COUNT(*) FROM billing_plans") == "4"
    assert billing.queries.render("SELECT COUNT(*) FROM billing_quotas") == "18"


def test_the_installed_entry_point_runs_as_a_user_would(env, tmp_path):
    clean = {k: v for k, v in env.items()}
    result = subprocess.run(
        [sys.executable, "-m", "nself_billing", "tenant", "billing", "plan", "show", "nope"],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert (result.returncode, result.stderr) == (1, "Error: Plan not found: nope\n")
    ok = subprocess.run(
        [sys.executable, "-m", "nself_billing", "billing", "plan", "list"],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert ok.returncode == 0
    assert ok.stdout.startswith("Available Plans\n╔")
    assert ok.stderr == DEPRECATION


def test_errors_are_one_line_unless_debugging(tmp_path):
    """A database file that is not a database: never a traceback, unless asked for."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "billing.db").write_bytes(b"this is not a sqlite database" * 100)
    bad = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS} | {
        "NSELF_ROOT": str(tmp_path),
        "BILLING_DATA_DIR": str(data),
    }
    command = [sys.executable, "-m", "nself_billing", "tenant", "billing", "plan", "list"]
    result = subprocess.run(command, env=bad, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr == "Error: Database error: file is not a database\n"
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    debug = subprocess.run(
        [*command[:5], "--debug", *command[5:]], env=bad, capture_output=True, text=True, timeout=60
    )
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_dotenv_file_in_nself_root_configures_the_database_dir(cli, root, backend):
    if backend != "sqlite":
        pytest.skip("the SQLite path is what BILLING_DATA_DIR moves")
    (root / ".env").write_text(f"BILLING_DATA_DIR={root}/elsewhere\n")
    assert cli("tenant", "billing", "plan", "list").exit_code == 0
    assert (root / "elsewhere" / "billing.db").is_file()
    assert not os.path.exists(root / ".nself" / "billing" / "billing.db")
