"""The one place that wires settings, database, provider, clock and logging into Billing."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .billing import Billing
from .errors import ConfigError
from .providers.port import PaymentProvider
from .services.catalog_startup import plans_file
from .services.context import Clock, Context
from .services.engines import choose_engines
from .settings import Settings
from .store.clickhouse import ClickHouseEvents
from .store.db import Database, sqlite_read_only, sqlite_url
from .store.migrate import ensure_schema


def utc_now() -> datetime:
    return datetime.now(UTC)


def build(
    settings: Settings,
    *,
    customer_id: str | None = None,
    clock: Clock | None = None,
    provider: Any = None,
    migrate: bool = True,
) -> Billing:
    """A ready Billing: schema created or upgraded, plans.toml applied when it changed."""
    log = configure_logging(settings)
    events = open_events(settings)
    db = open_database(settings)
    chosen = provider or make_provider(settings)
    if settings.debug:
        debug_database(db, log)
        chosen = LoggedProvider(chosen, log)
    ctx = Context(
        settings=settings,
        db=db,
        provider=chosen,
        clock=clock or utc_now,
        log=log,
        customer_override=customer_id,
        events=events,
        engines=choose_engines(chosen),  # local or Stripe, decided here once
        sign_webhook=sign_stripe_webhook,
    )
    billing = Billing(ctx)
    if migrate:
        try:
            ensure_schema(db)
            if events is not None:
                ensure_capture(db)
            if not db.read_only:  # a read-only database is read as it is
                apply_plans_file(billing, force=False)
        except BaseException:
            db.dispose()
            raise
    return billing


def sign_stripe_webhook(payload: str, secret: str) -> str:
    """``webhook test``'s signer: the Stripe adapter's (the SDK is imported on first use)."""
    from .providers.stripe.webhooks import sign_event

    return sign_event(payload, secret)


def open_database(settings: Settings) -> Database:
    if settings.database_url is not None:
        return Database(settings.database_url.reveal())
    try:
        private_directory(settings.data_dir)
        private_file(settings.sqlite_path)  # SQLite gives its -wal and -shm files its mode
    except OSError as error:
        raise ConfigError(
            f"Cannot create data directory {settings.data_dir}: {error.strerror}"
        ) from None
    path = settings.sqlite_path
    if sqlite_read_only(path):
        return Database(sqlite_url(path), read_only_path=path)
    return Database(sqlite_url(path))


def private_directory(path: Path) -> None:
    """Create ``path`` (and its missing parents) readable by its owner only (0700); an
    existing directory keeps the mode its operator gave it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def private_file(path: Path) -> None:
    """Create ``path`` empty and readable by its owner only (0600) unless it exists: usage,
    customers and keys' hashes are in the database, tenants' activity in the log."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def open_events(settings: Settings) -> ClickHouseEvents | None:
    """The ClickHouse event store (no connection yet: accepting events never waits for it)."""
    if settings.clickhouse_url is None:
        return None
    if not settings.uses_postgresql:
        raise ConfigError(
            "BILLING_CLICKHOUSE_URL needs PostgreSQL (set BILLING_DATABASE_URL): the outbox "
            "that feeds ClickHouse is filled by a PostgreSQL trigger"
        )
    return ClickHouseEvents(settings.clickhouse_url.reveal())


def ensure_capture(db: Database) -> None:
    """Every event inserted from now on reaches the outbox (one catalog query when the trigger
    is there already; installing it also queues the events stored before)."""
    from .store import event_outbox as event_store

    with db.read() as conn:
        if event_store.capture_installed(conn):
            return
    with db.write() as conn:
        event_store.install_capture(conn)


def make_provider(settings: Settings) -> PaymentProvider:
    if settings.provider == "stripe":
        from .providers.stripe import StripeProvider

        return StripeProvider(settings)
    from .providers.local import LocalProvider

    return LocalProvider()


def apply_plans_file(billing: Billing, *, force: bool) -> list[str]:
    """Apply ``${NSELF_ROOT}/plans.toml`` if present and changed since it was last applied to
    this database (or always, with ``force``)."""
    found = plans_file(billing.settings)
    if found is None or (not force and found.applied):
        return []
    applied = billing.plans.apply_file(found.path)
    found.mark_applied()
    return applied


_LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def configure_logging(settings: Settings) -> logging.Logger:
    """The billing log file (BILLING_LOG_FILE) at NSELF_LOG_LEVEL, as JSON lines (see
    ``logfile``). Never fatal: a log file that cannot be written leaves the logger without a
    file handler."""
    from .logfile import file_handler

    log = logging.getLogger("nself_billing")
    log.setLevel(_LOG_LEVELS[settings.log_level])
    log.propagate = False
    path = str(settings.log_file)
    if not any(getattr(h, "baseFilename", None) == path for h in log.handlers):
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()
        try:
            private_directory(settings.log_file.parent)
            private_file(settings.log_file)
            handler = file_handler(settings.log_file, max_bytes=settings.log_max_bytes)
        except OSError:
            return log
        log.addHandler(handler)
    return log


def debug_database(db: Database, log: logging.Logger) -> None:
    """NSELF_LOG_LEVEL=debug: one line per SQL statement with its duration (the statement's
    text, never its parameters)."""
    from time import perf_counter

    from sqlalchemy import event

    @event.listens_for(db.engine, "before_cursor_execute")
    def _start(conn: Any, _cursor: Any, _sql: str, _params: Any, _ctx: Any, _many: bool) -> None:
        conn.info.setdefault("nself_sql_started", []).append(perf_counter())

    @event.listens_for(db.engine, "after_cursor_execute")
    def _end(conn: Any, _cursor: Any, sql: str, _params: Any, _ctx: Any, many: bool) -> None:
        started = conn.info.get("nself_sql_started")
        if not started:
            return
        elapsed = perf_counter() - started.pop()
        log.debug(
            "sql",
            extra={
                "fields": {
                    "event": "sql",
                    "ms": round(elapsed * 1000, 3),
                    "many": many,
                    "sql": " ".join(sql.split())[:300],
                }
            },
        )


class LoggedProvider:
    """NSELF_LOG_LEVEL=debug: the payment provider with one line per call (its name, duration
    and outcome; never its arguments, which may carry personal data)."""

    def __init__(self, provider: Any, log: logging.Logger) -> None:
        self._provider = provider
        self._log = log

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._provider, name)
        if name.startswith("_") or not callable(value):
            return value
        log = self._log

        def call(*args: Any, **kwargs: Any) -> Any:
            from time import perf_counter

            started = perf_counter()
            outcome = "ok"
            try:
                return value(*args, **kwargs)
            except Exception as error:
                outcome = type(error).__name__
                raise
            finally:
                log.debug(
                    "provider",
                    extra={
                        "fields": {
                            "event": "provider_call",
                            "provider": getattr(self._provider, "name", "?"),
                            "call": name,
                            "ms": round((perf_counter() - started) * 1000, 3),
                            "outcome": outcome,
                        }
                    },
                )

        return call
