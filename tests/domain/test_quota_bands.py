from decimal import Decimal

import pytest

from nself_billing.domain.quotas import QuotaBand, band_for, percent_used, thresholds_crossed

LIMIT = Decimal(100)


@pytest.mark.parametrize(
    "usage, band",
    [
        (0, QuotaBand.OK),
        (74, QuotaBand.OK),
        (Decimal("74.99"), QuotaBand.OK),
        (75, QuotaBand.WARNING),
        (89, QuotaBand.WARNING),
        (90, QuotaBand.CRITICAL),
        (100, QuotaBand.CRITICAL),
        (Decimal("100.01"), QuotaBand.OVER),
    ],
)
def test_bands_follow_the_spec_legend(usage, band):
    assert band_for(Decimal(usage), LIMIT) is band


def test_icons_match_the_spec():
    assert [
        b.icon for b in (QuotaBand.OK, QuotaBand.WARNING, QuotaBand.CRITICAL, QuotaBand.OVER)
    ] == ["✓", "⚡", "⚠", "⚠ OVER"]


def test_percent_is_rounded_down_as_the_spec_shows():
    assert percent_used(Decimal(45200), Decimal(1000000)) == 4
    assert percent_used(Decimal("5.2"), Decimal(50)) == 10
    assert percent_used(Decimal(1), None) == 0


def test_unlimited_is_its_own_band():
    assert band_for(Decimal(10**12), None) is QuotaBand.UNLIMITED


def test_crossing_thresholds_is_reported_once_per_edge():
    assert thresholds_crossed(Decimal(70), Decimal(95), LIMIT) == [75, 90]
    assert thresholds_crossed(Decimal(95), Decimal(100), LIMIT) == []
    assert thresholds_crossed(Decimal(95), Decimal(101), LIMIT) == [100]
    assert thresholds_crossed(Decimal(0), Decimal(5), None) == []
