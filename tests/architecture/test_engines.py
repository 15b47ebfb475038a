"""The engine of each area is chosen once, in bootstrap.py, and use cases are wired there.

No use case asks which provider is configured (the names of the old switch, and
``isinstance(..., RemoteBilling)``, appear only in ``services/engines.py``), and no use case
builds another one or the current-customer resolver: bootstrap.py gives them their
collaborators (docs/ARCHITECTURE.md, "Engines chosen once" and "Wiring in one place").
"""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "src" / "nself_billing" / "services"
SWITCH_NAMES = {"remote_billing", "is_remote", "is_local", "local_engine"}
#: collaborators only bootstrap.py constructs
WIRED = {"CurrentCustomer", "UsageReports", "Diagnostics", "WebhookInbox", "UsageReader"}


def _modules() -> list[Path]:
    return sorted(p for p in SERVICES.rglob("*.py"))


def test_no_use_case_asks_which_provider_is_configured() -> None:
    found = []
    for path in _modules():
        if path.name == "engines.py" and path.parent == SERVICES:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            name = None
            if isinstance(node, ast.Name):
                name = node.id
            elif isinstance(node, ast.Attribute):
                name = node.attr
            elif isinstance(node, ast.alias):
                name = node.name.rsplit(".", 1)[-1]
            if name in SWITCH_NAMES:
                found.append(f"{path.relative_to(SERVICES)}:{node.lineno}: {name}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "isinstance"
                and len(node.args) == 2
                and "RemoteBilling" in ast.unparse(node.args[1])
                and path.parent == SERVICES
            ):
                found.append(
                    f"{path.relative_to(SERVICES)}:{node.lineno}: isinstance RemoteBilling"
                )
    assert found == []


def test_no_use_case_builds_another() -> None:
    defined = {
        node.name
        for path in _modules()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
    }
    use_cases = {n for n in defined if n.endswith("Service")} | WIRED
    assert {"UsageService", "CustomerService", "CurrentCustomer"} <= use_cases
    found = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if name in use_cases:
                found.append(f"{path.relative_to(SERVICES)}:{node.lineno}: {name}(...)")
    assert found == []
