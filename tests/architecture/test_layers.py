"""The layer table of docs/ARCHITECTURE.md, enforced on the import graph of the package.

The rules live in one place, the table under "## Layers" in docs/ARCHITECTURE.md: each row
names the modules of a layer (first column) and what they may import (second column), as
paths under ``src/nself_billing`` (``store/`` is a package and everything in it, ``errors.py``
one module). This test parses that table, walks every module with ``ast`` (relative imports
resolved; imports inside functions and ``TYPE_CHECKING`` blocks included) and fails on any
project import the table does not allow. A module may always import its own layer.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "nself_billing"
DOC = ROOT / "docs" / "ARCHITECTURE.md"

#: Imports the table does not allow and that are not fixed yet, each with its reason. Keep it
#: short: a new entry needs a reason a reviewer accepts, and docs/ARCHITECTURE.md names them.
ALLOWED_EXCEPTIONS: dict[tuple[str, str], str] = {}

#: Third-party packages only some layers may import: package -> module prefixes allowed
#: (docs/ARCHITECTURE.md says the same under the table). SQL is built only in ``store/``:
#: use cases take the transaction handle's type from ``store/db.py`` (``Connection``).
THIRD_PARTY: dict[str, tuple[str, ...]] = {
    "stripe": ("nself_billing.providers.stripe",),
    "click": ("nself_billing.cli",),
    "sqlalchemy": (
        "nself_billing.store",
        "nself_billing.bootstrap",  # the engine's events, when it builds the database
        "nself_billing.settings",  # SQLAlchemy's URL type, to build the database URL
    ),
}

#: Methods that run a statement: only ``store/`` calls them (a use case asks the store).
STATEMENT_METHODS = frozenset({"execute", "executemany", "exec_driver_sql"})


@dataclass(frozen=True)
class Layer:
    name: str
    members: tuple[str, ...]
    may_import: tuple[str, ...]


def _dotted(path: str) -> str:
    """``store/`` -> ``nself_billing.store``; ``providers/port.py`` -> ``...providers.port``;
    ``__init__.py`` -> ``nself_billing``."""
    path = path.strip().rstrip("/")
    if path.endswith(".py"):
        path = path[:-3]
    parts = [p for p in path.split("/") if p and p != "__init__"]
    return ".".join(["nself_billing", *parts])


def layers() -> list[Layer]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    found = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        members = tuple(_dotted(m) for m in re.findall(r"`([^`]+)`", cells[0]))
        allowed = tuple(_dotted(m) for m in re.findall(r"`([^`]+)`", cells[1]))
        found.append(Layer(cells[0], members, allowed))
    return found


def _covers(prefix: str, module: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str, table: list[Layer]) -> Layer:
    best: tuple[int, Layer] | None = None
    for layer in table:
        for member in layer.members:
            # the package's own __init__ covers only itself, not the whole tree
            hit = module == member if member == "nself_billing" else _covers(member, module)
            if hit and (best is None or len(member) > best[0]):
                best = (len(member), layer)
    assert best is not None, f"{module} is in no row of the layer table of docs/ARCHITECTURE.md"
    return best[1]


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if "migrations" in parts:  # Alembic scripts: store/ internals, loaded by Alembic
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(module: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    return imports_in(module, path.name == "__init__.py", path.read_text("utf-8"), known)


def imports_in(
    module: str, is_package: bool, source: str, known: set[str]
) -> list[tuple[str, int]]:
    """Every import of ``module`` (project modules and third-party top-level packages), with
    its line; ``from x import name`` counts as ``x.name`` when that is a module."""
    package = module if is_package else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((sub if sub in known else target, node.lineno))
    return found


def violations() -> list[str]:
    table = layers()
    mods = modules()
    known = set(mods)
    bad = []
    for module, path in mods.items():
        own = layer_of(module, table)
        for target, line in imports(module, path, known):
            where = f"{path.relative_to(ROOT)}:{line}: {module} imports {target}"
            top = target.split(".", 1)[0]
            if top in THIRD_PARTY:
                if not any(_covers(p, module) for p in THIRD_PARTY[top]):
                    bad.append(f"{where} (only {', '.join(THIRD_PARTY[top])} may)")
                continue
            if top != "nself_billing":
                continue
            other = layer_of(target, table)
            if other is own or any(_covers(a, target) for a in own.may_import):
                continue
            if any(
                _covers(src, module) and _covers(dst, target) for src, dst in ALLOWED_EXCEPTIONS
            ):
                continue
            bad.append(f"{where} (row {own.name} may import {', '.join(own.may_import)})")
    return bad


def statements_run(source: str) -> list[int]:
    """Lines that call ``.execute()``, ``.executemany()`` or ``.exec_driver_sql()``."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in STATEMENT_METHODS
    ]


def test_only_the_store_runs_statements() -> None:
    """No use case or face builds or runs SQL: it asks a ``store/`` function."""
    bad = [
        f"{path.relative_to(ROOT)}:{line}"
        for module, path in modules().items()
        if not _covers("nself_billing.store", module)
        for line in statements_run(path.read_text("utf-8"))
    ]
    assert bad == []


def test_a_statement_outside_the_store_is_reported() -> None:
    source = "def f(conn):\n    return conn.exec_driver_sql('SELECT 1').scalar()\n"
    assert statements_run(source) == [2]
    found = {
        t
        for t, _ in imports_in(
            "nself_billing.services.x", False, "from sqlalchemy import select\n", set()
        )
    }
    assert found == {"sqlalchemy"}
    assert not any(_covers(p, "nself_billing.services.x") for p in THIRD_PARTY["sqlalchemy"])


def test_the_doc_names_the_third_party_rules() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    for package, allowed in THIRD_PARTY.items():
        for prefix in allowed:
            path = prefix.removeprefix("nself_billing.").replace(".", "/")
            named = f"`{path}/`" in section or f"`{path}.py`" in section
            assert named and f"`{package}`" in section, (package, prefix)


def test_the_layer_table_is_read() -> None:
    table = layers()
    names = {m for layer in table for m in layer.members}
    assert {"nself_billing.errors", "nself_billing.domain", "nself_billing.store"} <= names
    assert layer_of("nself_billing.errors", table).may_import == ()
    assert "nself_billing.store" not in layer_of("nself_billing.domain", table).may_import


def test_every_import_follows_the_layer_table() -> None:
    assert violations() == []


def test_every_allowed_exception_is_still_needed() -> None:
    """An exception whose import is gone is removed from the list (and from the doc)."""
    table = layers()
    mods = modules()
    known = set(mods)
    used = set()
    for module, path in mods.items():
        for target, _ in imports(module, path, known):
            for src, dst in ALLOWED_EXCEPTIONS:
                if _covers(src, module) and _covers(dst, target):
                    if layer_of(target, table) is not layer_of(module, table):
                        used.add((src, dst))
    assert set(ALLOWED_EXCEPTIONS) - used == set()


def test_the_doc_names_every_allowed_exception() -> None:
    text = DOC.read_text(encoding="utf-8")
    for src, dst in ALLOWED_EXCEPTIONS:
        short = f"{src.removeprefix('nself_billing.')} -> {dst.removeprefix('nself_billing.')}"
        assert short in text, f"docs/ARCHITECTURE.md does not name the exception {short}"


def test_a_violation_is_reported() -> None:
    """The walker sees imports inside functions and TYPE_CHECKING blocks."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ..store import db\n"
        "def f():\n    from ..providers.local import LocalProvider\n"
    )
    found = {t for t, _ in imports_in("nself_billing.domain.x", False, source, set(modules()))}
    assert {"nself_billing.store.db", "nself_billing.providers.local"} <= found


def _type_checking_only(tree: ast.Module) -> set[int]:
    """The ids of the import nodes inside ``if TYPE_CHECKING:`` blocks."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for inner in node.body:
                found |= {id(n) for n in ast.walk(inner) if isinstance(n, ast.ImportFrom)}
    return found


def test_render_reads_only_the_services_result_types() -> None:
    """``render/`` may name the services' result types in annotations, but never runs a use
    case: its imports of ``services/`` all sit under ``TYPE_CHECKING``."""
    bad = []
    for path in sorted((PACKAGE / "render").rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        typing_only = _type_checking_only(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("services"):
                if id(node) not in typing_only:
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert bad == []
    assert any((PACKAGE / "render").glob("*.py"))
