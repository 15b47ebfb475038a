"""The store behaviour tests of tests/cli/test_metering_usage.py, on PostgreSQL + ClickHouse
(embedded engine): the same outcomes with the capture trigger, the outbox and ClickHouse's
reads in place."""

import pytest

from tests.cli.test_metering_usage import *  # noqa: F403


@pytest.fixture
def backend() -> str:
    return "clickhouse"
