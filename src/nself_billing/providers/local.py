"""The local provider: no external service, the database is the source of truth."""

from __future__ import annotations

import secrets
import string
from decimal import Decimal

from .port import ProviderCustomer, ProviderPayment

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 14) -> str:
    """An id in Stripe's style (cus_..., sub_..., in_...) from a CSPRNG."""
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


class LocalProvider:
    name = "local"

    def create_customer(self, *, email: str | None, name: str | None, phone: str | None,
                        project_name: str | None, idempotency_key: str) -> ProviderCustomer:
        return ProviderCustomer(new_id("cus"), email, name, phone)

    def update_customer(self, customer_id: str, *, email: str | None, name: str | None,
                        phone: str | None) -> ProviderCustomer | None:
        return None

    def create_subscription(self, *, customer_id: str, plan_name: str, interval: str,
                            trial_days: int, idempotency_key: str) -> str:
        return new_id("sub")

    def check_connection(self) -> str:
        return "local provider (no external payment service)"

    # Plan changes, cancellations and payment-method references live in our database only.
    def change_plan(self, *, subscription_id: str, plan_name: str, interval: str,
                    idempotency_key: str) -> None:
        return None

    def schedule_plan_change(self, *, subscription_id: str, plan_name: str | None,
                             interval: str, idempotency_key: str) -> None:
        return None

    def cancel_subscription(self, *, subscription_id: str, immediate: bool,
                            idempotency_key: str) -> None:
        return None

    def reactivate_subscription(self, *, subscription_id: str, idempotency_key: str) -> None:
        return None

    def pay_invoice(self, *, invoice_id: str, customer_id: str, amount: Decimal,
                    currency: str, payment_method_id: str | None,
                    idempotency_key: str) -> ProviderPayment:
        """Offline there is no one to charge: the payment is recorded as made with the
        payment method on file (an operator collects it outside the tool)."""
        return ProviderPayment(new_id("py", 16), "succeeded")

    def add_payment_method(self, *, customer_id: str, reference: str | None,
                           idempotency_key: str) -> str:
        return new_id("pm", 16)

    def remove_payment_method(self, payment_method_id: str) -> None:
        return None

    def set_default_payment_method(self, *, customer_id: str, payment_method_id: str) -> None:
        return None

    def portal_url(self, *, customer_id: str, return_url: str | None) -> str | None:
        return None
