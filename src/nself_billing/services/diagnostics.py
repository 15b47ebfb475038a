"""The spec's billing_validate_config, billing_test_db_connection and
billing_test_stripe_connection, gathered by ``doctor``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import BillingError
from ..store import notify as notify_store
from ..store import outbox as outbox_store
from ..store.migrate import MIGRATIONS_DIR, SCHEMA_REVISION, current_revision
from .context import Context

if TYPE_CHECKING:
    from .event_shipping import EventService


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    #: a check that does not apply (e.g. Stripe with the local provider) is skipped, not failed
    skipped: bool = False


@dataclass(frozen=True)
class Gauges:
    """What ``GET /metrics`` reads from the database at scrape time."""

    usage_pending: int
    usage_oldest: datetime | None
    notify_pending: int
    notify_oldest: datetime | None
    cycle_runs: int
    last_cycle_run: datetime | None
    #: the status of every notification endpoint
    endpoint_statuses: tuple[str, ...]


class Diagnostics:
    """``events`` is the raw-event shipping use case (its checks, with ClickHouse), given as a
    callable so that the other checks do not build it."""

    def __init__(self, ctx: Context, *, events: Callable[[], EventService]) -> None:
        self._ctx = ctx
        self._events = events

    def pool_counts(self) -> tuple[int, int]:
        """The database pool of this process: connections checked out, and its size."""
        pool = self._ctx.db.engine.pool
        checked_out = getattr(pool, "checkedout", lambda: 0)()
        return int(checked_out), int(getattr(pool, "size", lambda: 0)())

    def gauges(self) -> Gauges:
        """The outboxes' depth and age, the cycle runs and the endpoints, in one read."""
        with self._ctx.db.read() as conn:
            usage_pending, usage_oldest = outbox_store.pending_depth(conn)
            notify_pending, notify_oldest = notify_store.pending_depth(conn)
            runs, last_run = notify_store.cycle_run_stats(conn)
            endpoints = notify_store.endpoints(conn)
        return Gauges(
            usage_pending,
            usage_oldest,
            notify_pending,
            notify_oldest,
            runs,
            last_run,
            tuple(endpoint.status for endpoint in endpoints),
        )

    def validate_config(self) -> list[Check]:
        settings = self._ctx.settings
        checks = [
            Check(
                "database",
                True,
                "PostgreSQL"
                if settings.uses_postgresql
                else f"SQLite at {settings.sqlite_path}"
                + (" (read-only here: read commands only)" if self._ctx.db.read_only else ""),
            ),
            Check("provider", True, settings.provider),
        ]
        if settings.provider == "stripe":
            key = settings.stripe_secret_key.reveal() if settings.stripe_secret_key else ""
            key_ok = key.startswith(("sk_", "rk_"))
            checks.append(
                Check(
                    "stripe key",
                    key_ok,
                    "set" if key_ok else "STRIPE_SECRET_KEY missing or not sk_/rk_",
                )
            )
            checks.append(
                Check(
                    "webhook secret",
                    bool(settings.stripe_webhook_secret),
                    "set" if settings.stripe_webhook_secret else "STRIPE_WEBHOOK_SECRET is not set",
                )
            )
        return checks

    def test_db_connection(self) -> Check:
        """Connected, and a schema this release uses or creates: an empty database or an older
        schema is fine (the first command creates or upgrades it; ``migrate`` is optional)
        unless the database is read-only; a schema this release does not know fails."""
        name = "database connection"
        try:
            with self._ctx.db.read() as conn:
                revision = current_revision(conn)
        except BillingError as error:
            return Check(name, False, error.message)
        if revision == SCHEMA_REVISION:
            return Check(name, True, f"connected, schema {revision}")
        if revision is not None and not _known_revision(revision):
            return Check(
                name,
                False,
                f"schema at {revision}, which this release ({SCHEMA_REVISION}) does not know "
                "(a newer release made it?)",
            )
        state = "empty" if revision is None else f"schema {revision}"
        if self._ctx.db.read_only:
            return Check(
                name, False, f"connected, {state}, read-only: cannot become {SCHEMA_REVISION}"
            )
        happens = (
            f"its schema ({SCHEMA_REVISION}) is created"
            if revision is None
            else f"upgraded to {SCHEMA_REVISION}"
        )
        return Check(
            name,
            True,
            f"connected, {state}: {happens} on first use (or now: nself tenant billing migrate)",
        )

    def test_db_integrity(self) -> Check:
        name = "database integrity"
        try:
            problems = self._ctx.db.integrity_problems()
        except BillingError as error:
            return Check(name, False, error.message)
        if problems is None:
            return Check(name, True, "checked by the PostgreSQL server", skipped=True)
        if problems:
            return Check(
                name,
                False,
                f"PRAGMA quick_check: {problems[0]} (restore a backup; "
                "see https://sqlite.org/recovery.html)",
            )
        return Check(name, True, "PRAGMA quick_check: ok")

    def test_stripe_connection(self) -> Check:
        if self._ctx.settings.provider != "stripe":
            return Check("stripe connection", True, "not configured (local provider)", skipped=True)
        try:
            return Check("stripe connection", True, self._ctx.provider.check_connection())
        except BillingError as error:
            return Check("stripe connection", False, error.message)

    def test_events(self) -> list[Check]:
        """With BILLING_CLICKHOUSE_URL: the connection, the capture trigger, the shipper's lag
        and the last reconcile."""
        from .event_shipping import LAG_ALARM

        events = self._events()
        if not events.configured:
            return []
        checks = []
        try:
            version = events.clickhouse.ping()
            checks.append(
                Check(
                    "clickhouse connection",
                    True,
                    f"connected, version {version} ({events.clickhouse.location})",
                )
            )
        except BillingError as error:
            checks.append(Check("clickhouse connection", False, error.message))
        try:
            status = events.status()
        except BillingError as error:
            return [*checks, Check("event shipper", False, error.message)]
        checks.append(
            Check(
                "event capture",
                status.capture_installed,
                "trigger installed"
                if status.capture_installed
                else "trigger missing (run: nself tenant billing migrate)",
            )
        )
        lag = int(status.lag.total_seconds())
        detail = f"{status.pending:,} events waiting, lag {lag}s, {status.shipped_events:,} shipped"
        if status.last_error:
            detail += f"; last error: {status.last_error}"
        checks.append(Check("event shipper", status.lag < LAG_ALARM, detail))
        if status.last_reconcile_at is None:
            checks.append(
                Check("last reconcile", True, "never run (run: nself tenant billing reconcile)")
            )
        else:
            differences = status.last_reconcile_differences or 0
            checks.append(
                Check(
                    "last reconcile",
                    differences == 0,
                    f"{status.last_reconcile_at.isoformat()}: "
                    + ("in step" if differences == 0 else f"{differences} differences"),
                )
            )
        return checks

    def run_all(self) -> list[Check]:
        connection = self.test_db_connection()
        checks = [*self.validate_config(), connection]
        if connection.ok:
            checks.append(self.test_db_integrity())
        return [*checks, self.test_stripe_connection(), *self.test_events()]


def _known_revision(revision: str) -> bool:
    return any(
        path.name.startswith(f"{revision}_") for path in (MIGRATIONS_DIR / "versions").iterdir()
    )
