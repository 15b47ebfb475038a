"""Contract tests for a real ClickHouse server (or cluster): what the event store relies on.

They run only when BILLING_CLICKHOUSE_URL points at a server (http:// or https://), so an
operator can check their deployment:

    BILLING_CLICKHOUSE_URL=http://user:password@host:8123/billing \\
        python -m pytest -m clickhouse_server tests/events/test_clickhouse_server.py -n 0

Each test works in a scratch database of its own (``<database>_contract_<random>``), dropped
afterwards; the user needs CREATE/DROP DATABASE.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlparse, urlunparse

import pytest

from nself_billing.store.clickhouse import ClickHouseEvents

SERVER_URL = os.environ.get("BILLING_CLICKHOUSE_URL", "")

pytestmark = [
    pytest.mark.clickhouse_server,
    pytest.mark.skipif(
        not SERVER_URL.startswith(("http://", "https://")),
        reason="no ClickHouse server: set BILLING_CLICKHOUSE_URL=http(s)://user:pass@host:8123/db",
    ),
]


@pytest.fixture
def server() -> Iterator[ClickHouseEvents]:
    parsed = urlparse(SERVER_URL)
    base = parsed.path.strip("/") or "default"
    scratch = f"{base}_contract_{uuid.uuid4().hex[:8]}"
    store = ClickHouseEvents(urlunparse(parsed._replace(path="/" + scratch)))
    store.create_tables()
    try:
        yield store
    finally:
        store.drop()
        store.close()


def _rows(first: int, count: int) -> list[tuple[object, ...]]:
    at = datetime(2026, 1, 15, 12, 0, 0, 123456, tzinfo=UTC)
    return [
        (i, "cus_contract", "api", Decimal("1.000001"), '{"a": 1}', at, at, f"k{i}")
        for i in range(first, first + count)
    ]


def test_the_server_answers(server):
    assert server.ping()


def test_a_batch_sent_twice_with_its_token_is_stored_once(server):
    server.insert(_rows(1, 100), token="contract:1-100")
    server.insert(_rows(1, 100), token="contract:1-100")
    assert server.count() == (100, 100)


def test_the_exact_reads_collapse_a_row_sent_in_two_batches(server):
    server.insert(_rows(1, 10), token="contract:a")
    server.insert(_rows(5, 10), token="contract:b")
    raw, final = server.count()
    assert (raw, final) == (20, 14)
    totals = server.day_totals(["cus_contract"])
    assert totals == {("cus_contract", "api", datetime(2026, 1, 15).date()): (14_000_014, 14)}


def test_the_export_renders_the_lines_postgresql_would(server):
    server.insert(_rows(1, 2), token="contract:export")
    lines = b"".join(server.export_csv("cus_contract", None, None)).decode()
    assert lines == (
        '1,cus_contract,api,1.000001,2026-01-15T12:00:00.123456+00:00,k1,"{""a"": 1}"\n'
        '2,cus_contract,api,1.000001,2026-01-15T12:00:00.123456+00:00,k2,"{""a"": 1}"\n'
    )
