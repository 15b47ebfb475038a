"""The faces (cli/, http/, api/ and the recorder) use only what ``Billing`` exposes: never its
``context``, the service locator the use cases are built from."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "nself_billing"
FACES = ("cli", "http", "api", "recorder.py")


def _face_files() -> list[Path]:
    files: list[Path] = []
    for face in FACES:
        path = PACKAGE / face
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def context_uses(source: str) -> list[int]:
    """The lines that read an attribute named ``context`` or ``_ctx``."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and node.attr in ("context", "_ctx")
    ]


def test_no_face_reaches_into_the_context() -> None:
    files = _face_files()
    assert len(files) > 30
    found = [
        f"{path.relative_to(PACKAGE)}:{line}"
        for path in files
        for line in context_uses(path.read_text("utf-8"))
    ]
    assert found == []


def test_a_context_use_is_seen() -> None:
    assert context_uses("def f(billing):\n    return billing.context.db\n") == [2]
