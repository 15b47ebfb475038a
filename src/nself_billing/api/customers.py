"""The spec's customer functions: ``stripe_customer_show`` and ``stripe_customer_update``."""

from __future__ import annotations

from ..domain.customers import Customer
from ..errors import InvalidInput
from ..render.customers import customer_text
from .handle import default_billing

__all__ = ["bash_options", "stripe_customer_show", "stripe_customer_update"]


def stripe_customer_show() -> Customer:
    """Print the current customer (as ``customer show``) and return it."""
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
