"""The old module paths of the function API keep working.

``nself_billing.api_metering``, ``api_quotas``, ``api_subscriptions`` and ``api_stripe`` were
top-level modules until issue 18 made ``api/`` a package; they stay as thin modules that
re-export the same names. ``OLD_EXPORTS`` is each old module's ``__all__`` as released (commit
b648f12), written out here so that a name dropped from the new module fails this test.
"""

from __future__ import annotations

import importlib

import pytest

OLD_EXPORTS: dict[str, tuple[str, ...]] = {
    "metering": (
        "BatchResult",
        "BufferedRecorder",
        "RecordResult",
        "UsageEvent",
        "billing_record_usage",
        "usage_get_all",
        "usage_get_service",
        "usage_track_api_request",
        "usage_track_bandwidth",
        "usage_track_compute",
        "usage_track_database_query",
        "usage_track_function",
        "usage_track_storage",
    ),
    "quotas": (
        "billing_check_quota",
        "billing_get_quota_status",
        "quota_clear_override",
        "quota_consume",
        "quota_enforce",
        "quota_get_alerts",
        "quota_get_all",
        "quota_get_service",
        "quota_set_override",
    ),
    "subscriptions": (
        "billing_cycle",
        "billing_get_subscription",
        "stripe_customer_portal",
        "stripe_invoice_download",
        "stripe_invoice_list",
        "stripe_invoice_pay",
        "stripe_invoice_show",
        "stripe_payment_add",
        "stripe_payment_list",
        "stripe_payment_remove",
        "stripe_payment_set_default",
        "stripe_subscription_cancel",
        "stripe_subscription_downgrade",
        "stripe_subscription_reactivate",
        "stripe_subscription_upgrade",
    ),
    "stripe": (
        "stripe_apply_webhook_event",
        "stripe_plan_sync",
        "stripe_price_id",
        "stripe_reconcile",
        "stripe_usage_sync",
        "stripe_usage_sync_status",
        "stripe_verify_webhook",
        "stripe_webhook_events",
        "stripe_webhook_list",
        "stripe_webhook_test",
    ),
}


@pytest.mark.parametrize("area", sorted(OLD_EXPORTS))
def test_every_old_name_imports_from_the_old_path(area: str) -> None:
    old = importlib.import_module(f"nself_billing.api_{area}")
    new = importlib.import_module(f"nself_billing.api.{area}")
    missing = [name for name in OLD_EXPORTS[area] if not hasattr(old, name)]
    assert missing == [], f"nself_billing.api_{area} lost {missing}"
    # the same objects, not copies, and the same star-export as before
    assert all(getattr(old, name) is getattr(new, name) for name in OLD_EXPORTS[area])
    assert set(OLD_EXPORTS[area]) <= set(old.__all__)
    namespace: dict[str, object] = {}
    exec(f"from nself_billing.api_{area} import *", namespace)
    assert set(OLD_EXPORTS[area]) <= set(namespace)


def test_the_old_names_are_the_package_names() -> None:
    """What the old paths export is also importable from ``nself_billing`` itself."""
    import nself_billing

    for area, names in OLD_EXPORTS.items():
        old = importlib.import_module(f"nself_billing.api_{area}")
        assert all(getattr(nself_billing, name) is getattr(old, name) for name in names), area
