"""The Stripe adapter: the provider port on the official SDK (``StripeClient``), nothing
hand-written over HTTP. Every write carries an idempotency key derived from the operation;
every Stripe error becomes one ``ProviderError`` line that never holds a secret."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ..errors import ConfigError, ProviderError
from ..settings import Settings
from .port import ProviderCustomer

T = TypeVar("T")


class StripeProvider:
    name = "stripe"

    def __init__(self, settings: Settings, *, http_client: Any = None) -> None:
        if settings.stripe_secret_key is None:
            raise ConfigError("STRIPE_SECRET_KEY is not set (needed for BILLING_PROVIDER=stripe)")
        import stripe

        options: dict[str, Any] = {"max_network_retries": 2}
        if settings.stripe_api_version:
            options["stripe_version"] = settings.stripe_api_version
        if settings.stripe_api_base:
            base = settings.stripe_api_base.rstrip("/")
            options["base_addresses"] = {"api": base.removesuffix("/v1")}
        if http_client is not None:
            options["http_client"] = http_client
        self._settings = settings
        self.client = stripe.StripeClient(settings.stripe_secret_key.reveal(), **options)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        import stripe

        try:
            yield
        except stripe.AuthenticationError as error:
            raise ProviderError("Stripe API error: Invalid API Key (check STRIPE_SECRET_KEY)",
                                request_id=error.request_id, http_status=error.http_status,
                                code=error.code) from None
        except stripe.StripeError as error:
            message = error.user_message or _message(error)
            suffix = f" (request {error.request_id})" if error.request_id else ""
            raise ProviderError(f"Stripe API error: {message}{suffix}",
                                request_id=error.request_id, http_status=error.http_status,
                                code=error.code) from None

    def call(self, operation: Callable[[], T]) -> T:
        with self._errors():
            return operation()

    def create_customer(self, *, email: str | None, name: str | None, phone: str | None,
                        project_name: str | None, idempotency_key: str) -> ProviderCustomer:
        params: dict[str, Any] = {k: v for k, v in
                                  (("email", email), ("name", name), ("phone", phone)) if v}
        if project_name:
            params["metadata"] = {"nself_project": project_name}
        customer = self.call(lambda: self.client.v1.customers.create(
            params, options={"idempotency_key": idempotency_key}))
        return ProviderCustomer(customer.id, customer.get("email"), customer.get("name"),
                                customer.get("phone"))

    def update_customer(self, customer_id: str, *, email: str | None, name: str | None,
                        phone: str | None) -> ProviderCustomer | None:
        params = {k: v for k, v in (("email", email), ("name", name), ("phone", phone))
                  if v is not None}
        customer = self.call(lambda: self.client.v1.customers.update(customer_id, params))
        return ProviderCustomer(customer.id, customer.get("email"), customer.get("name"),
                                customer.get("phone"))

    def create_subscription(self, *, customer_id: str, plan_name: str, interval: str,
                            trial_days: int, idempotency_key: str) -> str:
        lookup_key = f"nself_{plan_name}_{'yearly' if interval == 'year' else 'monthly'}"
        prices = self.call(lambda: self.client.v1.prices.list(
            {"lookup_keys": [lookup_key], "active": True, "limit": 1}))
        if not prices.data:
            raise ProviderError(f"Stripe API error: no price with lookup key {lookup_key} "
                                "(run: nself tenant billing plan sync)")
        params: dict[str, Any] = {"customer": customer_id,
                                  "items": [{"price": prices.data[0].id}]}
        if trial_days:
            params["trial_period_days"] = trial_days
        subscription = self.call(lambda: self.client.v1.subscriptions.create(
            params, options={"idempotency_key": idempotency_key}))
        return str(subscription.id)

    def check_connection(self) -> str:
        balance = self.call(lambda: self.client.v1.balance.retrieve())
        mode = "live" if balance.get("livemode") else "test"
        return f"Stripe API reachable ({mode} mode)"


def _message(error: Any) -> str:
    text = str(getattr(error, "_message", None) or error).strip().splitlines()
    return text[0] if text else type(error).__name__
