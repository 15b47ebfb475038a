"""Every command is documented, and the README keeps its promises."""

import re
from pathlib import Path

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
