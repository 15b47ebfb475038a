"""The store behaviour tests of tests/services/test_metering_record.py, on PostgreSQL + ClickHouse
(embedded engine): the same outcomes with the capture trigger, the outbox and ClickHouse's
reads in place."""

import pytest

from tests.services.test_metering_record import *  # noqa: F403


@pytest.fixture
def backend() -> str:
    return "clickhouse"
