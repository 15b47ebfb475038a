"""The one error tree of nself-billing. A leaf module: any layer may import it.

    BillingError                 every failure a user can act on; ``str()`` is one line
     ├── ConfigError             bad or missing configuration (.env, env vars, plans.toml)
     ├── DatabaseError           the database is unreachable or refused the work
     ├── InvalidInput            a value the caller gave is not acceptable
     │    └── UnknownService     not one of the six metered services
     ├── NotFound                a plan, customer, invoice... that does not exist
     │    ├── NoCustomer         no current customer could be resolved
     │    └── PlanNotFound
     ├── Conflict                the request contradicts the current state
     │    └── IdempotencyConflict  an event id reused with another service or quantity
     ├── QuotaExceeded           a hard limit would be passed
     └── ProviderError           the payment provider failed (``Stripe API error: ...``)

The CLI maps every one of them to ``Error: <message>`` and exit code 1 (cli/main.py); the HTTP
service maps them to status codes (http/errors.py).
"""

from __future__ import annotations

from collections.abc import Sequence


class BillingError(Exception):
    """Base of every error a user can act on. The message is a single line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(BillingError):
    pass


class DatabaseError(BillingError):
    pass


class InvalidInput(BillingError):
    pass


class UnknownService(InvalidInput):
    def __init__(self, service: str, expected: Sequence[str]) -> None:
        names = ", ".join(expected)
        super().__init__(f"Unknown service: {service} (expected one of: {names})")
        self.service = service


class NotFound(BillingError):
    pass


class NoCustomer(NotFound):
    def __init__(self, message: str = "No customer ID found") -> None:
        super().__init__(message)


class PlanNotFound(NotFound):
    def __init__(self, plan_name: str) -> None:
        super().__init__(f"Plan not found: {plan_name}")
        self.plan_name = plan_name


class Conflict(BillingError):
    pass


class IdempotencyConflict(Conflict):
    """A consume whose id the customer already used for a different request (another service
    or quantity): nothing is written or admitted (HTTP 409, as Stripe answers a reused
    idempotency key with other parameters)."""

    def __init__(self, key: str, *, service: str) -> None:
        super().__init__(
            f"Idempotency key {key!a} was already used for a different request"
            f" ({service} with another service or quantity); use a new key"
        )
        self.key = key


class QuotaExceeded(BillingError):
    def __init__(self, service: str, message: str | None = None) -> None:
        super().__init__(message or f"Quota exceeded for {service} (hard limit)")
        self.service = service


class ProviderError(BillingError):
    """A payment provider failure. ``request_id`` is kept for support, never a secret."""

    def __init__(
        self,
        message: str,
        *,
        request_id: str | None = None,
        http_status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.request_id = request_id
        self.http_status = http_status
        self.code = code
