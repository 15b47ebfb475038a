"""The Stripe adapter: the provider port on the official SDK (``StripeClient``), nothing
hand-written over HTTP, one module per Stripe area:

- ``client``: the SDK client, error mapping, idempotency keys, money and time conversions;
- ``mapping``: Stripe objects as the port's values;
- ``catalog``: Products, Prices (graduated overage tiers), Meters;
- ``subscriptions``: customers, subscriptions, plan changes, cancellation;
- ``invoices``: invoices, payments and payment methods;
- ``meters``: meter events and their totals;
- ``webhooks``: signature checks, endpoints, events, objects read again on an event.
"""

from __future__ import annotations

from .client import (
    INTERVAL_KEYS,
    ZERO_DECIMAL,
    from_minor,
    meter_event_name,
    overage_lookup_key,
    price_lookup_key,
    product_id,
    to_minor,
)
from .invoices import StripeInvoices
from .mapping import (
    customer_from,
    invoice_from,
    is_ours,
    payment_method_from,
    plan_of_price,
    subscription_from,
)
from .meters import METER_BATCH, StripeMeters
from .subscriptions import StripeSubscriptions
from .webhooks import StripeEventFormat, StripeWebhooks, verify_event


class StripeProvider(StripeSubscriptions, StripeInvoices, StripeMeters, StripeWebhooks):
    """The payment provider port and ``RemoteBilling`` on Stripe."""

    name = "stripe"


__all__ = [
    "INTERVAL_KEYS",
    "METER_BATCH",
    "ZERO_DECIMAL",
    "StripeEventFormat",
    "StripeProvider",
    "customer_from",
    "from_minor",
    "invoice_from",
    "is_ours",
    "meter_event_name",
    "overage_lookup_key",
    "payment_method_from",
    "plan_of_price",
    "price_lookup_key",
    "product_id",
    "subscription_from",
    "to_minor",
    "verify_event",
]
