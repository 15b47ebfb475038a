"""The one place that wires settings, database, provider, clock and logging into Billing."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from .billing import Billing
from .errors import ConfigError
from .providers.port import PaymentProvider
from .services.catalog_startup import plans_file
from .services.context import Clock, Context
from .services.engines import choose_engines
from .settings import Settings
from .store.db import Database, sqlite_url
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
    db = open_database(settings)
    chosen = provider or make_provider(settings)
    ctx = Context(
        settings=settings,
        db=db,
        provider=chosen,
        clock=clock or utc_now,
        log=log,
        customer_override=customer_id,
        engines=choose_engines(chosen),  # local or Stripe, decided here once
    )
    billing = Billing(ctx)
    if migrate:
        try:
            ensure_schema(db)
            apply_plans_file(billing, force=False)
        except BaseException:
            db.dispose()
            raise
    return billing


def open_database(settings: Settings) -> Database:
    if settings.database_url is not None:
        return Database(settings.database_url.reveal())
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"Cannot create data directory {settings.data_dir}: {error.strerror}"
        ) from None
    return Database(sqlite_url(settings.sqlite_path))


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
    """The billing log file (BILLING_LOG_FILE) at NSELF_LOG_LEVEL. Never fatal: a log file that
    cannot be written leaves the logger without a file handler."""
    log = logging.getLogger("nself_billing")
    log.setLevel(_LOG_LEVELS[settings.log_level])
    log.propagate = False
    path = str(settings.log_file)
    if not any(getattr(h, "baseFilename", None) == path for h in log.handlers):
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()
        try:
            settings.log_file.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(path, encoding="utf-8", delay=True)
        except OSError:
            return log
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
    return log
