"""Migration 0008 (one event identity) on a database of the previous release with events in it:
keys keep what they meant, on both backends, and the consume procedures use the new identity."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from nself_billing import Billing, IdempotencyConflict
from nself_billing.store.catalog import seed_default_plans
from nself_billing.store.db import Database
from nself_billing.store.migrate import SCHEMA_REVISION, current_revision

from ..conftest import CONFIG_VARS, FrozenClock, scratch_database
from ..support.migrations import migrate_to

#: (customer, key before 0008, key after): what the HTTP service wrote was "<customer>:<id>"
ROWS = [
    ("cus_a", "cus_a:h1", "h1"),  # an HTTP id: becomes the id itself
    ("cus_a", "k1", "k1"),  # a CLI or library key: unchanged
    ("cus_a", "cus_a:k1", "cus_a:k1"),  # the same id over HTTP: stays apart, nothing merges
    ("cus_a", "cus_a:", "cus_a:"),  # nothing after the prefix: unchanged
    ("cus_b", "cus_a:h9", "cus_a:h9"),  # another customer's prefix: unchanged
    ("cus_c", "cus_c:x:evt-1", "x:evt-1"),  # tenant cus_c's HTTP id "x:evt-1"
    ("cus_c:x", "cus_c:x:evt-2", "evt-2"),  # tenant cus_c:x's HTTP id "evt-2"
]


@pytest.fixture
def previous_release(backend: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    env["NSELF_ROOT"] = str(tmp_path)
    if backend == "sqlite":
        data = tmp_path / ".nself" / "billing"
        data.mkdir(parents=True)
        yield f"sqlite:///{data / 'billing.db'}", env
        return
    with scratch_database("nself_0007") as url:
        env["BILLING_DATABASE_URL"] = url
        yield url, env


def _at_0007_with_events(url: str) -> None:
    db = Database(url)
    try:
        migrate_to(db, "0007")
        with db.write() as conn:
            seed_default_plans(conn)
            for customer in sorted({c for c, _, _ in ROWS}):
                conn.execute(
                    text("INSERT INTO billing_customers (customer_id, email) VALUES (:c, :e)"),
                    {"c": customer, "e": "x@example.com"},
                )
                conn.execute(
                    text(
                        "INSERT INTO billing_subscriptions (subscription_id, customer_id,"
                        " plan_name, status, current_period_start, current_period_end)"
                        " VALUES (:s, :c, 'pro', 'active', '2026-01-01 00:00:00',"
                        " '2026-02-01 00:00:00')"
                    ),
                    {"s": f"sub_{customer}", "c": customer},
                )
            for customer, key, _ in ROWS:
                conn.execute(
                    text(
                        "INSERT INTO billing_usage_records (customer_id, service_name, quantity,"
                        " quantity_micros, metadata, recorded_at, idempotency_key)"
                        " VALUES (:c, 'api', 2, 2000000, '{}', '2026-01-15 10:00:00', :k)"
                    ),
                    {"c": customer, "k": key},
                )
        with db.read() as conn:
            assert current_revision(conn) == "0007"
    finally:
        db.dispose()


def test_existing_keys_keep_their_meaning_under_the_per_customer_identity(previous_release):
    url, env = previous_release
    _at_0007_with_events(url)
    clock = FrozenClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    with Billing.from_env(env, clock=clock) as billing:
        with billing.context.db.read() as conn:
            assert current_revision(conn) == SCHEMA_REVISION
            stored = conn.exec_driver_sql(
                "SELECT customer_id, idempotency_key FROM billing_usage_records ORDER BY id"
            ).all()
        assert [tuple(row) for row in stored] == [(c, after) for c, _, after in ROWS]
        # an id sent over HTTP before the upgrade is still a replay after it
        assert billing.quotas.consume("api", 2, idempotency_key="h1", customer_id="cus_a").replayed
        with pytest.raises(IdempotencyConflict):
            billing.quotas.consume("api", 3, idempotency_key="h1", customer_id="cus_a")
        assert not billing.usage.record(
            "api", 2, customer_id="cus_c", idempotency_key="x:evt-1"
        ).recorded
        # ids are per customer now: cus_b may use cus_a's
        assert billing.usage.record("api", 1, customer_id="cus_b", idempotency_key="h1").recorded
        assert billing.quotas.consume("api", 1, idempotency_key="k1", customer_id="cus_b").recorded
        assert billing.queries.render("SELECT COUNT(*) FROM billing_usage_records") == str(
            len(ROWS) + 2
        )


def test_the_migration_goes_down_and_up_again_keeping_the_events(billing, customer_id):
    billing.usage.record("api", 1, idempotency_key="k")
    for down, target in ((True, "0007"), (False, "head")) * 2:
        migrate_to(billing.context.db, target, down=down)
    billing.quotas.invalidate()
    assert billing.quotas.consume("api", 1, idempotency_key="k").replayed
    assert billing.quotas.consume("api", 1, idempotency_key="k2").recorded
    assert billing.queries.render("SELECT COUNT(*) FROM billing_usage_records") == "2"
