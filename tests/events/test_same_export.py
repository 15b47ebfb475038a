"""The store behaviour tests of tests/cli/test_export.py, on PostgreSQL + ClickHouse
(embedded engine): the same outcomes with the capture trigger, the outbox and ClickHouse's
reads in place."""

import pytest

from tests.cli.test_export import *  # noqa: F403


@pytest.fixture
def backend() -> str:
    return "clickhouse"
