"""Shared fixtures: every store-backed test runs on real SQLite and real PostgreSQL.

PostgreSQL: 127.0.0.1:5432, user postgres, database test (override with NSELF_TEST_PG_URL).
Each test session (each xdist worker) creates its own database and drops it at the end; each
test starts from empty tables with the default plan catalog. Outside CI an unreachable server
skips the PostgreSQL half with the reason; with CI=true it fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from nself_billing import Billing
from nself_billing.store.catalog import seed_default_plans
from nself_billing.store.tables import ALL_TABLES

PG_ADMIN_URL = os.environ.get("NSELF_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")

#: variables of the developer's own environment that must not leak into a test
CONFIG_VARS = (
    "NSELF_ROOT",
    "NSELF_CUSTOMER_ID",
    "NSELF_LOG_LEVEL",
    "NSELF_BASE_URL",
    "PROJECT_NAME",
    "BILLING_DATABASE_URL",
    "BILLING_DB_HOST",
    "BILLING_DB_PORT",
    "BILLING_DB_NAME",
    "BILLING_DB_USER",
    "BILLING_DB_PASSWORD",
    "BILLING_DATA_DIR",
    "BILLING_CACHE_DIR",
    "BILLING_EXPORT_DIR",
    "BILLING_LOG_FILE",
    "BILLING_PROVIDER",
    "STRIPE_SECRET_KEY",
    "STRIPE_PUBLISHABLE_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_VERSION",
    "STRIPE_API_BASE",
    "BILLING_PORTAL_SECRET",
    "BILLING_HTTP_MAX_HEADER_BYTES",
    "BILLING_HTTP_REQUEST_TIMEOUT",
    "BILLING_DB_STATEMENT_TIMEOUT",
    "BILLING_DB_LOCK_TIMEOUT",
    "BILLING_SELLER_NAME",
    "BILLING_SELLER_ADDRESS",
    "BILLING_SELLER_TAX_ID",
    "BILLING_SELLER_EMAIL",
    "BILLING_PAYMENT_INSTRUCTIONS",
    "BILLING_INVOICE_PREFIX",
    "BILLING_INVOICE_DUE_DAYS",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USER",
    "SMTP_PASSWORD",
    "SMTP_FROM",
    "SMTP_SECURITY",
    "BILLING_EMAIL_QUOTA_ALERTS",
    "BILLING_METRICS_PUBLIC",
    "BILLING_NOTIFY_TIMEOUT",
    "BILLING_NOTIFY_RETRY_HOURS",
    "BILLING_LOG_MAX_BYTES",
    "PROMETHEUS_MULTIPROC_DIR",
    "BILLING_CLICKHOUSE_URL",
    "BILLING_RAW_USAGE_KEEP_DAYS",
)


class FrozenClock:
    """A clock a test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def _pg_unavailable(reason: str) -> None:
    message = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (required in CI)", pytrace=False)
    pytest.skip(message)


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (its SQLAlchemy URL), dropped afterwards; skips (or
    fails in CI) without a server."""
    try:
        import psycopg
    except ImportError as error:
        _pg_unavailable(str(error))
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as error:
        _pg_unavailable(str(error).strip().splitlines()[0])
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this session (or xdist worker)."""
    with scratch_database("nself_test") as url:
        yield url


def _reset_postgresql(url: str) -> None:
    """Empty every table (keeping the schema) and reseed the default catalog."""
    from nself_billing.store.db import Database
    from nself_billing.store.migrate import ensure_schema

    db = Database(url)
    try:
        ensure_schema(db)
        names = ", ".join(table.name for table in ALL_TABLES)
        with db.write() as conn:
            # a test with ClickHouse leaves its event capture trigger; the next one starts without
            conn.exec_driver_sql(
                "DROP TRIGGER IF EXISTS billing_event_capture ON billing_usage_records"
            )
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            seed_default_plans(conn)
    finally:
        db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """NSELF_ROOT of the test."""
    path = tmp_path / "project"
    path.mkdir()
    return path


@pytest.fixture
def env(backend: str, root: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment of a test: NSELF_ROOT in a temporary folder, and the backend's database."""
    values = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    values["NSELF_ROOT"] = str(root)
    if backend == "postgresql":
        url = request.getfixturevalue("pg_database_url")
        _reset_postgresql(url)
        values["BILLING_DATABASE_URL"] = url
    return values


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))


@pytest.fixture
def billing(env: dict[str, str], clock: FrozenClock) -> Iterator[Billing]:
    handle = Billing.from_env(env, clock=clock)
    yield handle
    handle.close()


@pytest.fixture
def customer_id(billing: Billing) -> str:
    """A customer on the pro plan, the only one, so it is the current customer."""
    customer = billing.customers.create(
        email="john@example.com", name="John Doe", customer_id="cus_test0000000001"
    )
    billing.subscriptions.start(customer.customer_id, "pro")
    return customer.customer_id


@pytest.fixture
def cli(env: dict[str, str]):  # type: ignore[no-untyped-def]
    """Run ``nself ...`` in-process through the real entry point with the test's environment."""
    from nself_billing.cli.main import cli as command

    runner = CliRunner()
    environment = {var: None for var in CONFIG_VARS} | env

    def invoke(
        *args: str, input: str | None = None, extra_env: dict[str, str] | None = None
    ) -> Result:
        return runner.invoke(
            command,
            list(args),
            env=environment | (extra_env or {}),
            input=input,
            prog_name="nself",
            catch_exceptions=False,
        )

    return invoke
