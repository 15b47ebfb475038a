"""``usage rebuild``: the per-day rollups checked against, or rebuilt from, the raw events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from ..store import event_outbox as event_store
from ..store import rollups as store
from ..store.db import Connection
from .context import Context


@dataclass(frozen=True)
class RebuildReport:
    #: rows inserted with SQL that got their exact micro-unit quantity
    filled: int
    #: rollup rows that differed from the raw events (all of them rewritten unless checking)
    drift: list[store.Drift]
    checked_only: bool

    @property
    def consistent(self) -> bool:
        return not self.drift and not self.filled


class RollupService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def rebuild(self, *, check: bool = False) -> RebuildReport:
        """Make the rollups equal to the raw events; with ``check`` only report the difference.

        One transaction that keeps usage writers out while it runs, so nothing recorded
        meanwhile is lost or counted twice."""
        if check:
            with self._ctx.db.read() as conn:
                return RebuildReport(
                    store.missing_micros(conn),
                    store.drift(conn, since=_complete_from(conn)),
                    checked_only=True,
                )
        with self._ctx.db.write() as conn:
            store.lock_usage(conn)
            filled = store.fill_missing_micros(conn)
            drift = store.drift(conn, since=_complete_from(conn))
            store.rewrite(conn, drift)
        return RebuildReport(filled, drift, checked_only=False)


def _complete_from(conn: Connection) -> date | None:
    """The first day whose raw events are all still in the database (None: every day)."""
    pruned_before = event_store.raw_pruned_before(conn)
    return None if pruned_before is None else pruned_before.date() + timedelta(days=1)
