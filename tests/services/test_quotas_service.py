"""Quota limits, bands, check/enforce/consume and alerts, on both backends."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from nself_billing import NotFound, UnknownService
from nself_billing.bootstrap import Services
from nself_billing.domain.quotas import QuotaBand
from nself_billing.services.engines import choose_engines
from nself_billing.store.tables import quota_alerts, usage_daily, usage_records


def _count(billing, table, *where):
    with billing.context.db.read() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def _alerts(billing):
    with billing.context.db.read() as conn:
        return [
            (r.service_name, r.threshold)
            for r in conn.execute(
                select(quota_alerts).order_by(quota_alerts.c.service_name, quota_alerts.c.threshold)
            )
        ]


def test_pro_plan_limits_and_a_missing_row_means_unlimited(billing, customer_id):
    limits = billing.quotas.limits()
    assert limits.plan_name == "pro"
    assert limits.quotas["api"].limit == Decimal(1000000)
    assert limits.quotas["api"].mode.value == "soft"
    with billing.context.db.write() as conn:
        conn.exec_driver_sql(
            "DELETE FROM billing_quotas WHERE plan_name = 'pro' AND service_name = 'compute'"
        )
    billing.quotas.invalidate()
    line = billing.quotas.status("compute")
    assert line.quota.limit is None and line.band is QuotaBand.UNLIMITED
    assert billing.quotas.check("compute", 10**9) is True
    assert billing.quotas.enforce("compute", 10**9).reason == "unlimited"


@pytest.mark.parametrize(
    "used, band, percent",
    [
        (0, QuotaBand.OK, 0),
        (749_999, QuotaBand.OK, 74),
        (750_000, QuotaBand.WARNING, 75),
        (899_999, QuotaBand.WARNING, 89),
        (900_000, QuotaBand.CRITICAL, 90),
        (1_000_000, QuotaBand.CRITICAL, 100),
        (1_000_001, QuotaBand.OVER, 100),
    ],
)
def test_status_bands_from_recorded_usage(billing, customer_id, used, band, percent):
    if used:
        billing.usage.record("api", used)
    line = billing.quotas.status("api")
    assert (line.usage, line.band, line.percent) == (Decimal(used), band, percent)
    assert line.available == max(Decimal(1000000 - used), Decimal(0))


def test_soft_limit_never_blocks_but_warns_and_alerts(billing, customer_id):
    billing.usage.record("api", 1_000_000)
    assert billing.quotas.check("api", 1) is False
    decision = billing.quotas.enforce("api", 1)
    assert (decision.allowed, decision.reason) == (True, "soft_limit")
    result = billing.quotas.consume("api", 5)
    assert (result.admitted, result.recorded, result.usage) == (True, True, Decimal(1000005))
    assert _alerts(billing) == [("api", 75), ("api", 90), ("api", 100)]
    log = billing.settings.log_file.read_text()
    assert "Quota exceeded for api (soft limit)" in log
    assert "Quota alert: api reached 90% of its quota" in log


def test_hard_limit_blocks_and_consume_never_passes_it(billing, customer_id):
    billing.quotas.set_override("api", 10, mode="hard")
    admitted = [billing.quotas.consume("api", 3).admitted for _ in range(5)]
    assert admitted == [True, True, True, False, False]
    assert billing.quotas.consume("api", 1).admitted is True  # 10 exactly
    assert billing.quotas.consume("api", 1).admitted is False
    assert billing.quotas.check("api", 1) is False
    assert billing.quotas.enforce("api", 1).allowed is False
    assert billing.quotas.status("api").usage == Decimal(10)
    assert _count(billing, usage_records) == 4
    assert _alerts(billing) == [("api", 75), ("api", 90), ("api", 100)]


def test_enforce_only_checks(billing, customer_id):
    billing.quotas.set_override("functions", 2, mode="hard")
    for _ in range(3):
        assert billing.quotas.enforce("functions", 2).allowed is True
    assert billing.quotas.enforce("functions", 3).allowed is False
    assert _count(billing, usage_records) == 0


def test_replayed_idempotency_key_is_admitted_once_counted(billing, customer_id):
    billing.quotas.set_override("api", 2, mode="hard")
    first = billing.quotas.consume("api", 2, idempotency_key="req-1")
    again = billing.quotas.consume("api", 2, idempotency_key="req-1")
    assert (first.admitted, first.recorded) == (True, True)
    assert (again.admitted, again.recorded, again.replayed) == (True, False, True)
    assert billing.quotas.consume("api", 1, idempotency_key="req-2").admitted is False
    with billing.context.db.read() as conn:
        assert conn.execute(select(usage_daily.c.quantity_micros)).scalar_one() == 2_000_000


def test_overrides_replace_and_clear(billing, customer_id):
    assert billing.quotas.set_override("storage", "unlimited").limit is None
    assert billing.quotas.status("storage").quota.source == "override"
    quota = billing.quotas.set_override("api", "5000000")
    assert (quota.limit, quota.mode.value, quota.source) == (Decimal(5000000), "soft", "override")
    assert billing.quotas.clear_override("api") is True
    assert billing.quotas.clear_override("api") is False
    assert billing.quotas.limits().quotas["api"].limit == Decimal(1000000)


def test_alerts_are_recorded_once_per_period(billing, customer_id, clock):
    billing.usage.record("api", 800_000)
    for _ in range(3):
        billing.quotas.enforce("api")
        billing.quotas.alerts()
    assert _alerts(billing) == [("api", 75)]
    hot, records = billing.quotas.alerts()
    assert [line.service for line in hot] == ["api"]
    assert [(r.service, r.threshold) for r in records] == [("api", 75)]
    # another process's view (the same database, wired again): no memo
    other = Services(billing.context, choose_engines(billing.context.provider)).quotas
    other.enforce("api")
    assert _alerts(billing) == [("api", 75)]
    clock.advance(days=31)  # the next period starts empty
    billing.usage.record("api", 900_000)
    billing.quotas.enforce("api")
    assert _alerts(billing) == [("api", 75), ("api", 75), ("api", 90)]


def test_bad_service_and_missing_subscription(billing, customer_id):
    with pytest.raises(UnknownService):
        billing.quotas.enforce("nope")
    other = billing.customers.create(email="x@example.com", name="X", customer_id="cus_nosub")
    with pytest.raises(NotFound, match="No active subscription"):
        billing.quotas.status("api", customer_id=other.customer_id)


def test_usage_cache_repeats_a_block_but_never_an_admit_under_a_hard_limit(billing, customer_id):
    quotas = billing.quotas
    quotas.usage_cache_seconds = 60
    quotas.set_override("api", 5, mode="hard")
    assert quotas.enforce("api", 5).allowed is True  # caches usage 0
    billing.usage.record("api", 5)  # another process records: the cache does not know
    assert quotas.enforce("api", 1).allowed is False  # an admit is decided on fresh usage
    assert quotas.enforce("api", 1).allowed is False  # the block is repeated from the cache


def test_usage_cache_serves_soft_limits_within_its_bound(billing, customer_id):
    quotas = billing.quotas
    quotas.usage_cache_seconds = 60
    assert quotas.enforce("api").usage == 0
    billing.usage.record("api", 10)
    assert quotas.enforce("api").usage == 0  # stale within the bound, and a soft limit admits
    quotas.usage_cache_seconds = 0
    assert quotas.enforce("api").usage == 10


def test_short_lived_threads_share_a_few_hot_path_connections(billing, customer_id):
    import threading

    def check():
        assert billing.quotas.check("api", 1) is True

    for _ in range(3):
        threads = [threading.Thread(target=check) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(billing.quotas._reader._idle) <= 8


def test_a_plan_change_shows_at_once_and_reaches_the_hot_path_within_the_ttl(billing, customer_id):
    assert billing.quotas.check("api", 1_000_001) is False  # pro: 1M, cached for the hot path
    with billing.context.db.write() as conn:
        conn.exec_driver_sql("UPDATE billing_subscriptions SET plan_name = 'starter'")
    assert billing.quotas.status("api").quota.limit == Decimal(100000)  # displays read fresh
    billing.quotas.limits_ttl = 0
    billing.quotas.invalidate()
    assert billing.quotas.check("api", 100_001) is False
