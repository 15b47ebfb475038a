"""The payment provider port. The service layer talks only to this; adapters implement it.

The local provider keeps everything in our database (the offline, embedded default); the Stripe
adapter maps the same calls onto Stripe. The database rows are the mirror either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ProviderCustomer:
    customer_id: str
    email: str | None
    name: str | None
    phone: str | None


class PaymentProvider(Protocol):
    name: str

    def create_customer(self, *, email: str | None, name: str | None, phone: str | None,
                        project_name: str | None, idempotency_key: str) -> ProviderCustomer: ...

    def update_customer(self, customer_id: str, *, email: str | None, name: str | None,
                        phone: str | None) -> ProviderCustomer | None:
        """The provider's customer after the update, or None where the mirror is the truth."""
        ...

    def create_subscription(self, *, customer_id: str, plan_name: str, interval: str,
                            trial_days: int, idempotency_key: str) -> str:
        """Start a subscription at the provider; returns its id."""
        ...

    def check_connection(self) -> str:
        """One line describing a working connection; raises ProviderError otherwise."""
        ...
