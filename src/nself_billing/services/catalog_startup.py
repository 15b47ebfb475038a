"""The plan catalog at start-up cost, and the state of ``plans.toml``.

``quick_plans`` answers the catalog commands without building ``Billing`` (and so without
importing SQLAlchemy) when the embedded database is ready: at the current schema revision and
with any ``plans.toml`` already applied. Otherwise it answers None and the caller builds
``Billing`` as usual, which creates or migrates the database and applies the file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..domain.plans import Plan
from ..settings import Settings
from ..store.catalog_sqlite import read_plans
from ..store.migrate import SCHEMA_REVISION

PLANS_FILE = "plans.toml"


@dataclass(frozen=True)
class PlansFile:
    """A ``plans.toml`` and the marker recording that this content was applied to this
    database."""

    path: Path
    digest: str
    marker: Path

    @property
    def applied(self) -> bool:
        try:
            return self.marker.read_text().strip() == self.digest
        except OSError:
            return False

    def mark_applied(self) -> None:
        try:
            self.marker.parent.mkdir(parents=True, exist_ok=True)
            self.marker.write_text(self.digest)
        except OSError:
            pass  # only an optimisation: the file is applied again next time


def plans_file(settings: Settings) -> PlansFile | None:
    """``${NSELF_ROOT}/plans.toml`` if present."""
    path = settings.nself_root / PLANS_FILE
    if not path.is_file():
        return None
    target = settings.database_url.reveal() if settings.database_url else str(settings.sqlite_path)
    digest = hashlib.sha256(path.read_bytes() + target.encode()).hexdigest()
    return PlansFile(path=path, digest=digest, marker=settings.cache_dir / "plans.toml.applied")


def quick_plans(settings: Settings) -> list[Plan] | None:
    """Every plan, read through sqlite3 alone, or None when the normal path must answer."""
    if settings.uses_postgresql:
        return None
    pending = plans_file(settings)
    if pending is not None and not pending.applied:
        return None
    return read_plans(settings.sqlite_path, SCHEMA_REVISION)
