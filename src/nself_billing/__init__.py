"""nself-billing: usage metering, quota enforcement and subscription billing.

The object API is ``Billing``; the spec's function-style API (``billing_init``,
``billing_record_usage``, ``quota_enforce``, ...) wraps it.
"""

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    BillingError,
    ConfigError,
    Conflict,
    DatabaseError,
    IdempotencyConflict,
    InvalidInput,
    NoCustomer,
    NotFound,
    PlanNotFound,
    ProviderError,
    QuotaExceeded,
    UnknownService,
)

__all__ = [
    "BillingError",
    "ConfigError",
    "Conflict",
    "DatabaseError",
    "IdempotencyConflict",
    "InvalidInput",
    "NoCustomer",
    "NotFound",
    "PlanNotFound",
    "ProviderError",
    "QuotaExceeded",
    "UnknownService",
]

#: the object API and the function API, imported on first use (PEP 562) so that the command
#: line starts without loading the database layer or every area; tests/test_spec_api.py checks
#: this map against each module
_LAZY: dict[str, tuple[str, ...]] = {
    "billing": ("Billing",),
    "api": (
        "billing_close",
        "billing_db_query",
        "billing_export_all",
        "billing_export_invoices",
        "billing_export_usage",
        "billing_get_customer_id",
        "billing_init",
        "billing_test_db_connection",
        "billing_test_stripe_connection",
        "billing_validate_config",
        "stripe_customer_show",
        "stripe_customer_update",
        "stripe_plan_current",
        "stripe_plan_show",
        "stripe_plans_compare",
        "stripe_plans_list",
    ),
    "api.metering": (
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
    "api.quotas": (
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
    "api.subscriptions": (
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
    "api.stripe": (
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
_LAZY_NAMES = {name: module for module, names in _LAZY.items() for name in names}
__all__ += [name for names in _LAZY.values() for name in names]

if TYPE_CHECKING:
    from .api import *  # noqa: F403
    from .api.metering import *  # noqa: F403
    from .api.quotas import *  # noqa: F403
    from .api.stripe import *  # noqa: F403
    from .api.subscriptions import *  # noqa: F403
    from .billing import *  # noqa: F403


def __getattr__(name: str) -> Any:
    module = _LAZY_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_NAMES))
