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
from nself_billing.store.export import csv_field

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
    chunks = list(server.export_csv("cus_contract", None, None))
    assert b"".join(chunk for chunk, _lines in chunks).decode() == (
        '1,cus_contract,api,1.000001,2026-01-15T12:00:00.123456+00:00,k1,"{""a"": 1}"\n'
        '2,cus_contract,api,1.000001,2026-01-15T12:00:00.123456+00:00,k2,"{""a"": 1}"\n'
    )
    assert sum(lines for _chunk, lines in chunks) == 2


def test_a_csv_batch_keeps_every_byte_postgresql_wrote(server):
    """The shipper's CSV (PostgreSQL's COPY): a padded field, a field of \\N, a newline, a
    backslash and a tab reach the table and come back in the export unchanged."""
    keys = [" padded\t", "\\N", "line\nbreak", "back\\slash\tand tab"]
    at = "2026-01-15 12:00:00"
    data = "".join(
        f"{i},cus_contract,api,1,,{at},{at},{csv_field(key)}\n" for i, key in enumerate(keys, 1)
    )
    server.insert_csv(data.encode(), token="contract:csv")
    chunks = list(server.export_csv("cus_contract", None, None))
    assert b"".join(chunk for chunk, _lines in chunks).decode() == "".join(
        f"{i},cus_contract,api,1.000000,2026-01-15T12:00:00.000000+00:00,{csv_field(key)},\n"
        for i, key in enumerate(keys, 1)
    )
    assert sum(lines for _chunk, lines in chunks) == len(keys)
