"""nself-billing: usage metering, quota enforcement and subscription billing.

The object API is ``Billing``; the spec's function-style API (``billing_init``,
``billing_record_usage``, ``quota_enforce``, ...) wraps it.
"""

from .api import (
    billing_close,
    billing_db_query,
    billing_export_all,
    billing_export_invoices,
    billing_export_usage,
    billing_get_customer_id,
    billing_init,
    billing_test_db_connection,
    billing_test_stripe_connection,
    billing_validate_config,
    stripe_customer_show,
    stripe_customer_update,
    stripe_plan_current,
    stripe_plan_show,
    stripe_plans_compare,
    stripe_plans_list,
)
from .billing import Billing
from .errors import (
    BillingError,
    ConfigError,
    Conflict,
    DatabaseError,
    InvalidInput,
    NoCustomer,
    NotFound,
    PlanNotFound,
    ProviderError,
    QuotaExceeded,
    UnknownService,
)

__all__ = [
    "Billing",
    "BillingError",
    "ConfigError",
    "Conflict",
    "DatabaseError",
    "InvalidInput",
    "NoCustomer",
    "NotFound",
    "PlanNotFound",
    "ProviderError",
    "QuotaExceeded",
    "UnknownService",
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
]

from .api_metering import *  # noqa: F403
from .api_metering import __all__ as _metering_all

__all__ += _metering_all

from .api_quotas import *  # noqa: F403
from .api_quotas import __all__ as _quotas_all

__all__ += _quotas_all

from .api_subscriptions import *  # noqa: F403
from .api_subscriptions import __all__ as _subscriptions_all

__all__ += _subscriptions_all

from .api_stripe import *  # noqa: F403
from .api_stripe import __all__ as _stripe_all

__all__ += _stripe_all
