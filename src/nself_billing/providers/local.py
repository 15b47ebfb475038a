"""The local provider: no external service, the database is the source of truth."""

from __future__ import annotations

from ..domain.subscriptions import Trial
from ..ids import new_id
from .port import ProviderCustomer


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
        trial: Trial | None,
        idempotency_key: str,
    ) -> str:
        return new_id("sub")

    def check_connection(self) -> str:
        return "local provider (no external payment service)"
