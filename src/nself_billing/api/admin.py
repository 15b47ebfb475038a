"""The spec's configuration, connection and SQL functions over the default handle."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from ..errors import BillingError
from .handle import default_billing

__all__ = [
    "billing_db_query",
    "billing_test_db_connection",
    "billing_test_stripe_connection",
    "billing_validate_config",
]


def billing_db_query(
    sql: str, format: str = "tuples", params: Mapping[str, Any] | None = None
) -> str:
    """Run SQL (with ``:name`` parameters bound from ``params``) and return the result as
    ``tuples`` (psql -t -A style), ``csv`` or ``json`` text."""
    return default_billing().queries.render(sql, format, params)


def billing_validate_config() -> int:
    """Check the configuration; 0 when valid, 1 otherwise (each problem on stderr)."""
    checks = default_billing().diagnostics.validate_config()
    for check in checks:
        if not check.ok:
            print(f"Error: {check.name}: {check.detail}", file=sys.stderr)
    return 0 if all(check.ok for check in checks) else 1


def billing_test_db_connection() -> bool:
    """True when the database answers and its schema is current."""
    try:
        return default_billing().diagnostics.test_db_connection().ok
    except BillingError:
        return False


def billing_test_stripe_connection() -> bool:
    """True when Stripe is configured and answers with the configured key."""
    billing = default_billing()
    if billing.settings.provider != "stripe":
        return False
    return billing.diagnostics.test_stripe_connection().ok
