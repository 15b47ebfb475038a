"""The event store's configurations: SQLite, PostgreSQL, and PostgreSQL + ClickHouse on the
embedded engine (chDB, through clickhouse-connect's ``chdb://`` DSN, the client production uses).

chDB allows one process per data directory, so each test session (each xdist worker) has its
own directory, and each test its own ClickHouse database in it, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CONFIG_VARS, _reset_postgresql

CONFIGURATIONS = ["sqlite", "postgresql", "clickhouse"]


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This worker's embedded ClickHouse data directory."""
    pytest.importorskip("chdb", reason="the embedded ClickHouse engine (chdb) is not installed")
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
def clickhouse_url(chdb_dir: Path) -> Iterator[str]:
    """A fresh ClickHouse database on this worker's embedded engine."""
    from nself_billing.store.clickhouse import ClickHouseEvents

    url = f"chdb://{chdb_dir}?database=t_{uuid.uuid4().hex[:12]}"
    yield url
    store = ClickHouseEvents(url)
    try:
        store.drop()
    finally:
        store.close()


@pytest.fixture(params=CONFIGURATIONS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def env(backend: str, root: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    values["NSELF_ROOT"] = str(root)
    if backend in ("postgresql", "clickhouse"):
        url = request.getfixturevalue("pg_database_url")
        _reset_postgresql(url)
        values["BILLING_DATABASE_URL"] = url
    if backend == "clickhouse":
        values["BILLING_CLICKHOUSE_URL"] = request.getfixturevalue("clickhouse_url")
    return values
