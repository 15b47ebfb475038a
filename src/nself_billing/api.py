"""The spec's function-style API, thin over ``Billing``.

The bash original kept its state in the environment of the sourced scripts; here one default
``Billing`` handle, made by ``billing_init()`` (or on first use), plays that part. It is the only
module-level state of the library; ``billing_close()`` releases it. Functions whose bash twin
printed (the ``stripe_*`` displays) print the same thing to stdout and also return the data.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from typing import Any

from .billing import Billing
from .domain.customers import Customer
from .domain.plans import Plan
from .errors import BillingError, InvalidInput
from .settings import parse_flag

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


def stripe_customer_show() -> Customer:
    """Print the current customer (as ``customer show``) and return it."""
    from .cli.customer import customer_text

    customer = default_billing().customers.current()
    print(customer_text(customer))
    return customer


def stripe_customer_update(
    *options: str, email: str | None = None, name: str | None = None, phone: str | None = None
) -> Customer:
    """Update the current customer's email, name or phone; ``InvalidInput`` with none given.
    Takes the bash function's options too: ``stripe_customer_update("--email=new@example.com")``
    (or ``"--email", "new@example.com"``)."""
    given = bash_options(options, ("email", "name", "phone"))
    return default_billing().customers.update(
        email=given.get("email", email),
        name=given.get("name", name),
        phone=given.get("phone", phone),
    )


def bash_options(options: tuple[str, ...], names: tuple[str, ...]) -> dict[str, str]:
    """``--name=value`` and ``--name value`` options, as the spec's bash functions take them;
    anything else is ``InvalidInput`` naming the options that are taken."""
    expected = ", ".join(f"--{name}" for name in names)
    result: dict[str, str] = {}
    rest = list(options)
    while rest:
        option = str(rest.pop(0))
        key, has_value, value = option.partition("=")
        name = key[2:] if key.startswith("--") else ""
        if name not in names:
            raise InvalidInput(f"Unknown option: {option} (expected {expected})")
        if not has_value:
            if not rest:
                raise InvalidInput(f"Option {key} needs a value")
            value = str(rest.pop(0))
        result[name] = value
    return result


def stripe_plans_list() -> list[Plan]:
    """Print the plan table (as ``plan list``) and return the plans."""
    from .cli.catalog import plans_table

    plans = default_billing().plans.list()
    print("Available Plans")
    print(plans_table(plans))
    return plans


def stripe_plan_show(plan_name: str) -> Plan:
    """Print a plan's details (as ``plan show``) and return it; ``PlanNotFound`` if unknown."""
    from .cli.catalog import plan_details

    plan = default_billing().plans.get(plan_name)
    print(plan_details(plan))
    return plan


def stripe_plans_compare() -> list[Plan]:
    """Print the comparison of all plans and return them."""
    from .domain.humanize import human_limit
    from .domain.services import SERVICE_NAMES

    plans = default_billing().plans.list()
    for service in SERVICE_NAMES:
        cells = "  ".join(
            f"{p.name}={human_limit(service, p.quota_for(service).limit)}" for p in plans
        )
        print(f"{service:<10} {cells}")
    return plans


def stripe_plan_current() -> Plan:
    """Print and return the current customer's plan; ``NotFound`` without a subscription."""
    from .cli.catalog import plan_details

    billing = default_billing()
    plan = billing.plans.current(billing.customer_id)
    print(plan_details(plan))
    return plan


def _export(kind: str, output_format: str, file: str | None, year: str | int | None) -> str:
    from pathlib import Path

    chosen_year = int(year) if year not in (None, "") else None
    result = default_billing().export.export(
        kind,
        output_format=output_format or "json",
        output=Path(file) if file else None,
        year=chosen_year,
        force=bool(file),
    )
    return str(result.paths[0])


def billing_export_all(
    format: str = "json", file: str | None = None, year: str | int | None = None
) -> str:
    """Export customer, subscription, invoices, usage and payments; returns the file written
    (an explicit ``file`` is overwritten, as the bash tool did)."""
    return _export("all", format, file, year)


def billing_export_usage(
    format: str = "json", file: str | None = None, year: str | int | None = None
) -> str:
    """Export daily usage (``date,service_name,usage,events`` in CSV)."""
    return _export("usage", format, file, year)


def billing_export_invoices(
    format: str = "json", file: str | None = None, year: str | int | None = None
) -> str:
    """Export invoices (with their lines in JSON)."""
    return _export("invoices", format, file, year)
