"""The spec's function-style API, thin over ``Billing`` (the library face, beside ``cli/`` and
``http/``).

One module per area of the spec: ``handle`` (the default ``Billing`` handle: ``billing_init``,
``billing_close``), ``admin`` (configuration, connections, SQL), ``export``, ``customers``,
``catalog`` (plans), ``metering``, ``quotas``, ``subscriptions`` (subscriptions, invoices,
payment methods, the portal) and ``stripe`` (webhooks, plan sync, the usage outbox). Every
function is also exported from ``nself_billing``. Functions whose bash twin printed (the
``stripe_*`` displays) print the same thing to stdout, through the presenters of ``render/``
that the CLI uses, and also return the data.
"""

from __future__ import annotations

from .admin import (
    billing_db_query,
    billing_test_db_connection,
    billing_test_stripe_connection,
    billing_validate_config,
)
from .catalog import stripe_plan_current, stripe_plan_show, stripe_plans_compare, stripe_plans_list
from .customers import stripe_customer_show, stripe_customer_update
from .export import billing_export_all, billing_export_invoices, billing_export_usage
from .handle import billing_close, billing_get_customer_id, billing_init
from .handle import default_billing as default_billing  # not a spec function: not in __all__
from .handle import use_billing as use_billing

__all__ = [
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
