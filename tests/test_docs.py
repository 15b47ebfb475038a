"""Every command is documented, and the README keeps its promises."""

import re
from pathlib import Path

import pytest

from nself_billing.cli.main import billing

ROOT = Path(__file__).resolve().parents[1]


def _command_paths(group, path=()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            if command.invoke_without_command:
                yield (*path, name)
            yield from _command_paths(command, (*path, name))
        else:
            yield (*path, name)


def test_every_command_is_in_the_command_reference():
    reference = (ROOT / "docs" / "CLI.md").read_text()
    missing = [" ".join(p) for p in _command_paths(billing) if f"`{' '.join(p)}" not in reference]
    assert not missing, f"commands missing from docs/CLI.md: {missing}"


def test_readme_opens_with_the_two_setup_commands():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```(?:sh|bash|console)?\n(.*?)```", readme, re.S).group(1)
    assert block.strip().splitlines() == [
        "pip install . && nself tenant billing demo",
        "pip install -e '.[test]' && python -m pytest",
    ]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -e '.[test]' && python -m pytest\n" in ci


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def _section(text: str, title: str) -> str:
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _run_shell_lines(cli, lines, environ):  # type: ignore[no-untyped-def]
    """Run README shell lines as written: ``export`` sets variables, ``nself ...`` runs the
    command in-process; every command must exit 0."""
    import shlex

    outputs = []
    for line in lines:
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words[0] == "export":
            environ.update(word.split("=", 1) for word in words[1:])
            continue
        assert words[0] == "nself", line
        result = cli(*words[1:], extra_env=environ)
        assert result.exit_code == 0, f"{line}\n{result.stdout}{result.stderr}"
        outputs.append(result.stdout)
    return outputs


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_readme_sequence_works_as_written(cli):  # type: ignore[no-untyped-def]
    readme = (ROOT / "README.md").read_text()
    quickstart = _blocks(_section(readme, "Quickstart"), "sh")[0].splitlines()[0]
    demo = quickstart.split("&&", 1)[1].strip()
    using = _blocks(_section(readme, "Using it"), "sh")[0].splitlines()
    environ: dict[str, str] = {}
    outputs = _run_shell_lines(cli, [demo, *using], environ)
    assert environ == {"NSELF_CUSTOMER_ID": "cus_acme"}
    commands = [line for line in using if line.startswith("nself ")]
    shown = outputs[1 + commands.index("nself tenant billing subscription show")]
    assert "Plan: pro" in shown.splitlines()
    [cron] = _blocks(readme, "cron")
    cycle = cron.split("&&", 1)[1].split(">>", 1)[0].strip()
    _run_shell_lines(cli, [cycle], environ)


@pytest.mark.parametrize("backend", ["sqlite"])  # the steps point at a database of their own
def test_the_readme_postgresql_steps_work(cli, root):  # type: ignore[no-untyped-def]
    from urllib.parse import urlsplit

    from .conftest import scratch_database

    readme = (ROOT / "README.md").read_text()
    lines = _blocks(_section(readme, "PostgreSQL"), "sh")[0].replace("\\\n", "").splitlines()
    with scratch_database("nself_readme") as url:
        parts = urlsplit(url)
        server = {  # the README's variables, pointed at the test server
            "BILLING_DB_HOST": parts.hostname or "",
            "BILLING_DB_PORT": str(parts.port or 5432),
            "BILLING_DB_NAME": parts.path.lstrip("/"),
            "BILLING_DB_USER": parts.username or "postgres",
            "BILLING_DB_PASSWORD": parts.password or "",
        }
        environ: dict[str, str] = {"BILLING_DATABASE_URL": ""}
        exports = [line for line in lines if line.startswith("export ")]
        _run_shell_lines(cli, exports, environ)
        assert set(server) <= set(environ)
        environ.update(server)
        outputs = _run_shell_lines(
            cli, [line for line in lines if line.startswith("nself ")], environ
        )
        assert outputs[0].startswith("Database schema upgraded: empty -> ")
        assert "All checks passed" in outputs[1]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_readme_plans_toml_is_complete_and_applies(billing, root):  # type: ignore[no-untyped-def]
    import tomllib
    from decimal import Decimal

    from nself_billing.bootstrap import apply_plans_file
    from nself_billing.domain.services import SERVICE_NAMES

    [example] = _blocks((ROOT / "README.md").read_text(), "toml")
    (root / "plans.toml").write_text(example)
    assert sorted(apply_plans_file(billing, force=True)) == ["enterprise", "pro", "team"]
    team = billing.plans.get("team")
    written = tomllib.loads(example)["plans"]["team"]
    assert [q.service for q in team.quotas] == list(SERVICE_NAMES)
    for quota in team.quotas:
        spec = written["quotas"][quota.service]
        assert quota.limit == Decimal(str(spec["limit"]))
        assert quota.overage_price == Decimal(spec["overage_price"])
    assert [p.name for p in billing.plans.list()] == [
        "free",
        "starter",
        "team",
        "pro",
        "enterprise",
    ]


def test_the_readme_price_table_is_the_catalog():  # type: ignore[no-untyped-def]
    from decimal import Decimal

    from nself_billing.domain.plans import DEFAULT_PLANS

    readme = (ROOT / "README.md").read_text()
    header, _rule, *rows = [
        line for line in _section(readme, "Plans and quotas").splitlines() if line.startswith("|")
    ]
    plans = {plan.name: plan for plan in DEFAULT_PLANS}
    for name in ("starter", "pro"):
        plan = plans[name]
        assert f"{name} ${plan.price_monthly:.0f}/mo, ${plan.price_yearly:.0f}/yr" in header
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        service = cells[0].split()[0]
        for name, cell in zip(("free", "starter", "pro", "enterprise"), cells[1:], strict=True):
            quota = plans[name].quota_for(service)
            if cell == "unlimited":
                assert quota.limit is None, (service, name)
                continue
            limit, _, price = cell.partition(" · ")
            assert quota.limit == Decimal(limit.replace(",", "")), (service, name)
            listed = Decimal(price.split()[0].lstrip("$")) if price else Decimal(0)
            assert quota.overage_price == listed, (service, name)


def _documented_command_lines() -> list[tuple[str, str]]:
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        inside = False
        for line in path.read_text().replace("\\\n", " ").splitlines():
            if line.startswith("```"):
                inside = not inside
                continue
            command = line.split("&&")[-1].split(">>")[0].split("|")[0].strip()
            if inside and command.startswith("nself "):
                found.append((path.name, command))
    return found


@pytest.mark.parametrize(("page", "line"), _documented_command_lines())
def test_every_documented_command_line_parses(page, line):  # type: ignore[no-untyped-def]
    """Each ``nself ...`` line in a code block names a real command with real options (the
    README's sequence, run whole, is test_the_readme_sequence_works_as_written)."""
    import shlex

    from click.testing import CliRunner

    from nself_billing.cli.main import cli

    words = shlex.split(line, comments=True)
    result = CliRunner().invoke(cli, [*words[1:], "--help"], prog_name="nself")
    assert result.exit_code == 0, f"{page}: {line}\n{result.output}"
    assert len(_documented_command_lines()) >= 14
