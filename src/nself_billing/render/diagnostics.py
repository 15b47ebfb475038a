"""How ``doctor``'s checks look."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..services.diagnostics import Check

CHECK_COLUMNS = ("check", "ok", "skipped", "detail")


def check_record(check: Check) -> dict[str, Any]:
    return {"check": check.name, "ok": check.ok, "skipped": check.skipped, "detail": check.detail}


def checks_text(checks: Sequence[Check]) -> str:
    """One line per check (✓ passed, ✗ failed, - skipped), then the verdict."""
    lines = [
        f"{'-' if check.skipped else '✓' if check.ok else '✗'} {check.name}: {check.detail}"
        for check in checks
    ]
    failed = [check for check in checks if not check.ok]
    lines.append("All checks passed" if not failed else f"{len(failed)} check(s) failed")
    return "\n".join(lines)
