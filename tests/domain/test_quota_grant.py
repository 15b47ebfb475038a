"""What a subscription's status grants in quotas."""

from datetime import UTC, datetime, timedelta

from nself_billing.domain.plans import DEFAULT_PLANS, EnforcementMode
from nself_billing.domain.subscriptions import (
    PAST_DUE_GRACE,
    QuotaGrant,
    hard_limited,
    quota_grant,
)

START = datetime(2026, 4, 1, tzinfo=UTC)


def test_active_and_trialing_grant_the_plan() -> None:
    assert quota_grant("active", START, START + timedelta(days=40)) is QuotaGrant.PLAN
    assert quota_grant("trialing", START, START) is QuotaGrant.PLAN


def test_incomplete_grants_the_free_plan_only() -> None:
    assert quota_grant("incomplete", START, START) is QuotaGrant.FREE


def test_past_due_keeps_the_plan_for_its_grace_period_then_limits_are_hard() -> None:
    last_moment = START + PAST_DUE_GRACE - timedelta(microseconds=1)
    assert quota_grant("past_due", START, last_moment) is QuotaGrant.PLAN
    assert quota_grant("past_due", START, START + PAST_DUE_GRACE) is QuotaGrant.HARD


def test_unpaid_falls_back_to_hard_limits() -> None:
    assert quota_grant("unpaid", START, START) is QuotaGrant.HARD
    pro = next(p for p in DEFAULT_PLANS if p.name == "pro")
    limited = hard_limited(pro)
    assert {q.mode for q in limited.quotas} == {EnforcementMode.HARD}
    assert [q.limit for q in limited.quotas] == [q.limit for q in pro.quotas]
