"""A tenant of the operator's backend: the one who is metered and billed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from ..errors import NoCustomer

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ().\-]{3,30}$")
_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9_\-.:]{1,255}$")


@dataclass(frozen=True)
class Customer:
    customer_id: str
    email: str | None
    name: str | None
    phone: str | None
    project_name: str | None
    created_at: datetime | None


def email_problem(email: str) -> str | None:
    return None if _EMAIL.match(email) and len(email) <= 255 else f"Invalid email: {email}"


def phone_problem(phone: str) -> str | None:
    return None if _PHONE.match(phone) else f"Invalid phone number: {phone}"


def customer_id_problem(customer_id: str) -> str | None:
    if _CUSTOMER_ID.match(customer_id):
        return None
    return f"Invalid customer ID: {customer_id!r}"


#: how many customer ids the "several customers exist" error names
NAMED_IN_ERROR = 5


def only_customer(ids: list[str]) -> str:
    """The spec's fallback from the first customer ids: the only customer, or
    ``No customer ID found``, naming the ids to choose from when there are several."""
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise NoCustomer()
    named = ", ".join(ids[:NAMED_IN_ERROR]) + (", ..." if len(ids) > NAMED_IN_ERROR else "")
    raise NoCustomer(
        f"No customer ID found: several customers exist ({named}); pass --customer ID or set "
        "NSELF_CUSTOMER_ID (see: nself tenant billing customer list)"
    )
