"""docs/ARCHITECTURE.md matches the tree of ``src/nself_billing``.

Every module the page names in backticks exists (``store/usage.py``, ``store/usage.daily_totals``,
``store.db.transaction_state``, ``outbox/``, ``hot_path.py``); the layer table's third column
names every module of its row's packages; the diagram names every top-level module and package.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from tests.architecture.test_layers import DOC, PACKAGE, ROOT

PACKAGES = ("api", "cli", "domain", "http", "providers", "render", "services", "store")


def _modules() -> list[Path]:
    """Every module of the package, Alembic's scripts aside, relative to it."""
    return sorted(
        p.relative_to(PACKAGE) for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts
    )


def _named(text: str) -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", text))


def _everywhere(name: str) -> bool:
    """A bare name (``hot_path.py``, ``templates/``): a module or folder somewhere in the
    package (the table names a package's modules without its folder)."""
    name = name.rstrip("/")
    return any(p.name == name for p in PACKAGE.rglob(name))


def missing_modules(text: str) -> list[str]:
    """The backticked module names of ``text`` that name nothing in the tree."""
    missing = []
    for token in sorted(_named(text)):
        if token.startswith("/") or " " in token:
            continue  # a URL path or code
        dotted = re.fullmatch(rf"((?:{'|'.join(PACKAGES)})(?:\.\w+)+)(?:\(.*)?", token)
        # store.db.transaction_state(conn): the longest prefix that is a module (not
        # ``services.py``, a file: below)
        if dotted and not token.endswith(".py"):
            parts = dotted.group(1).split(".")
            found = any(
                (PACKAGE.joinpath(*parts[:n]).with_suffix(".py")).is_file()
                or PACKAGE.joinpath(*parts[:n]).is_dir()
                for n in range(2, len(parts) + 1)
            )
            if not found:
                missing.append(token)
            continue
        match = re.fullmatch(r"([\w/]+?)(\.py|\.html|/)?(?:\.\w+)*", token)
        if not match or not (match.group(2) or "/" in match.group(1)):
            continue  # not a path: a class, a setting, a command
        path, ending = match.group(1), match.group(2) or ""
        if "/" not in path:
            if not _everywhere(path + ending):
                missing.append(token)
            continue
        candidates = [path + ending] if ending else [path + ".py", path + "/"]
        if not any((base / c).exists() for base in (PACKAGE, ROOT) for c in candidates):
            missing.append(token)
    return missing


def test_every_module_named_in_the_doc_exists() -> None:
    assert missing_modules(DOC.read_text(encoding="utf-8")) == []


def test_a_module_that_is_gone_is_reported() -> None:
    text = (
        "`services/local_engine.py`, `cli/render.py`, `store/outbox.py`, `cli/usage_view.py`, "
        "`services.stripe_events`, `store/usage.daily_totals`, `outbox/`, `hot_path.py`, "
        "`store.db.transaction_state(conn)`, `/healthz`, `Billing.usage`, `api_metering.py`"
    )
    assert missing_modules(text) == [
        "cli/render.py",
        "cli/usage_view.py",
        "services.stripe_events",
        "services/local_engine.py",
        "store/outbox.py",
    ]


def _rows() -> list[tuple[list[str], str]]:
    section = DOC.read_text(encoding="utf-8").split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) == 3 and cells[0].startswith("`"):
            rows.append((re.findall(r"`([^`]+)`", cells[0]), cells[2]))
    return rows


def test_the_layer_table_names_every_module_of_its_packages() -> None:
    """A row ``store/`` names each of store's modules in its third column (``events.py``,
    ``outbox/`` and its ``rows``, ...), except those with a row of their own."""
    rows = _rows()
    own_rows = {m for members, _ in rows for m in members if m.endswith(".py")}
    unnamed = []
    for members, holds in rows:
        words = {t.rstrip("/").removesuffix(".py").split(".")[0] for t in _named(holds)}
        words |= {t.rstrip("/").removesuffix(".py").rsplit("/", 1)[-1] for t in _named(holds)}
        for package in (m for m in members if m.endswith("/")):
            for module in _modules():
                rel = module.as_posix()
                if not rel.startswith(package) or rel in own_rows:
                    continue
                inner = module.relative_to(package)
                if inner.name == "__init__.py":
                    if inner.parent == Path("."):
                        continue  # the row's own package
                    name = inner.parent.name
                else:
                    name = inner.stem
                if name not in words:
                    unnamed.append(rel)
    assert unnamed == []


def test_the_diagram_names_every_top_level_module_and_package() -> None:
    diagram = DOC.read_text(encoding="utf-8").split("```", 2)[1]
    names = set(re.findall(r"[\w*]+\.py|\w+/", diagram))
    top = sorted(p.name + ("/" if p.is_dir() else "") for p in PACKAGE.iterdir())
    top = [n for n in top if n.endswith((".py", "/")) and n != "__pycache__/"]
    assert [n for n in top if not any(fnmatch.fnmatch(n, pattern) for pattern in names)] == []
