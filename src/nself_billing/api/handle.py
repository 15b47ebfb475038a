"""The default ``Billing`` handle of the function API: ``billing_init``, ``billing_close``,
``billing_get_customer_id``.

The bash original kept its state in the environment of the sourced scripts; here one default
``Billing`` handle, made by ``billing_init()`` (or on first use), plays that part. It is the only
module-level state of the library; ``billing_close()`` releases it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping

from ..billing import Billing
from ..errors import BillingError
from ..settings import parse_flag

__all__ = [
    "billing_close",
    "billing_get_customer_id",
    "billing_init",
    "default_billing",
    "use_billing",
]

_lock = threading.Lock()
_default: Billing | None = None


def default_billing() -> Billing:
    """The handle the functions use: the one ``billing_init`` made, or a new one."""
    global _default
    with _lock:
        if _default is None:
            _default = Billing.from_env()
        return _default


def use_billing(billing: Billing | None) -> None:
    """Make ``billing`` the handle of the function API (None forgets the current one)."""
    global _default
    with _lock:
        _default = billing


def billing_close() -> None:
    global _default
    with _lock:
        if _default is not None:
            _default.close()
        _default = None


def billing_init(quiet: bool | str = False, environ: Mapping[str, str] | None = None) -> int:
    """Initialize: read configuration, create or migrate the schema, apply plans.toml.

    Returns 0 on success, 1 on failure (the error is printed to stderr unless quiet)."""
    silent = parse_flag(quiet, "quiet")
    try:
        billing = Billing.from_env(environ)
    except BillingError as error:
        if not silent:
            print(f"Error: {error.message}", file=sys.stderr)
        return 1
    try:
        billing.apply_plans_file(force=False)
        if billing.stripe.enabled:  # Products, Prices and Meters for the plans (idempotent)
            billing.stripe.plan_sync_if_changed()
    except BillingError as error:
        billing.close()
        if not silent:
            print(f"Error: {error.message}", file=sys.stderr)
        return 1
    previous = _default
    use_billing(billing)
    if previous is not None:
        previous.close()
    if not silent:
        where = (
            "PostgreSQL" if billing.settings.uses_postgresql else str(billing.settings.sqlite_path)
        )
        print(f"Billing initialized ({where}, provider: {billing.settings.provider})")
    return 0


def billing_get_customer_id() -> str:
    """The current customer id; raises ``NoCustomer`` ("No customer ID found") if none."""
    return default_billing().customer_id
