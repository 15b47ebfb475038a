"""A tenant of the operator's backend: the one who is metered and billed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

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
