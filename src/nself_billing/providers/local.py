"""The local provider: no external service, the database is the source of truth."""

from __future__ import annotations

import secrets
import string

from .port import ProviderCustomer

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 14) -> str:
    """An id in Stripe's style (cus_..., sub_..., in_...) from a CSPRNG."""
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


class LocalProvider:
    name = "local"

    def create_customer(
        self,
        *,
        email: str | None,
        name: str | None,
        phone: str | None,
        project_name: str | None,
        idempotency_key: str,
    ) -> ProviderCustomer:
        return ProviderCustomer(new_id("cus"), email, name, phone)

    def update_customer(
        self, customer_id: str, *, email: str | None, name: str | None, phone: str | None
    ) -> ProviderCustomer | None:
        return None

    def create_subscription(
        self,
        *,
        customer_id: str,
        plan_name: str,
        interval: str,
        trial_days: int,
        idempotency_key: str,
    ) -> str:
        return new_id("sub")

    def check_connection(self) -> str:
        return "local provider (no external payment service)"
