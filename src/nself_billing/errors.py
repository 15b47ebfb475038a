"""The one error tree of nself-billing. A leaf module: it imports nothing of the project, and
any layer may import it.

    BillingError                 400 BAD_REQUEST      every failure a user can act on
     ├── ConfigError             503 NOT_CONFIGURED   bad or missing configuration
     ├── DatabaseError           503 DATABASE_UNAVAILABLE  unreachable or refused the work
     ├── InvalidInput            422 INVALID_INPUT    a value the caller gave is not acceptable
     │    ├── UnknownService                          not one of the six metered services
     │    ├── InvalidEvents      422 INVALID_EVENTS   a usage batch with per-event problems
     │    └── BadSignature       400 BAD_SIGNATURE    a forged, stale or missing webhook signature
     ├── AuthenticationFailed    401 UNAUTHORIZED     no valid API key
     ├── Forbidden               403 FORBIDDEN        a key asked for what it may not touch
     ├── PayloadTooLarge         413 PAYLOAD_TOO_LARGE
     ├── NotFound                404 NOT_FOUND        a plan, customer, invoice... not there
     │    ├── NoCustomer                              no current customer could be resolved
     │    └── PlanNotFound
     ├── Conflict                409 CONFLICT         the request contradicts the current state
     │    └── IdempotencyConflict  409 IDEMPOTENCY_CONFLICT  an event id reused differently
     ├── QuotaExceeded           429 QUOTA_EXCEEDED   a hard limit would be passed
     ├── DeadlineExceeded        503 DEADLINE_EXCEEDED  the request deadline passed (HTTP only)
     └── ProviderError           502 PROVIDER_ERROR   the payment provider failed

Each class carries its HTTP answer as class attributes, ``status_code`` and ``error_code`` (as
stripe-python's errors carry theirs); a subclass without its own inherits its parent's. The
CLI maps every one of them to ``Error: <message>`` and exit code 1 (cli/main.py); the HTTP
service answers ``{"error": message, "code": error_code}`` with ``status_code``
(http/errors.py). ``ProviderError``'s instance attributes ``http_status`` and ``code`` are the
provider's own (Stripe's), not ours. Database driver errors become ``DatabaseError``,
``Conflict`` or ``InvalidInput`` in one place, ``store/db.billing_error``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar


class BillingError(Exception):
    """Base of every error a user can act on. The message is a single line."""

    #: the HTTP status and the ``code`` of the JSON body the HTTP service answers with
    status_code: ClassVar[int] = 400
    error_code: ClassVar[str] = "BAD_REQUEST"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(BillingError):
    status_code = 503
    error_code = "NOT_CONFIGURED"


class DatabaseError(BillingError):
    """The database is unreachable or refused the work. Over HTTP its message (which may name
    the database's host) is logged, not answered."""

    status_code = 503
    error_code = "DATABASE_UNAVAILABLE"


class InvalidInput(BillingError):
    status_code = 422
    error_code = "INVALID_INPUT"


class UnknownService(InvalidInput):
    def __init__(self, service: str, expected: Sequence[str]) -> None:
        names = ", ".join(expected)
        super().__init__(f"Unknown service: {service} (expected one of: {names})")
        self.service = service


class InvalidEvents(InvalidInput):
    """A batch with per-event problems; nothing of it was recorded."""

    error_code = "INVALID_EVENTS"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"Invalid usage events: {len(errors)} error(s); nothing was recorded")
        self.errors = errors


class BadSignature(InvalidInput):
    """A missing, forged or stale webhook signature (``Stripe-Signature``), or a body that is
    not an event."""

    status_code = 400
    error_code = "BAD_SIGNATURE"


class AuthenticationFailed(BillingError):
    """No valid API key: missing, malformed, unknown or revoked."""

    status_code = 401
    error_code = "UNAUTHORIZED"

    def __init__(self, message: str = "Invalid or missing API key") -> None:
        super().__init__(message)


class Forbidden(BillingError):
    """An authenticated key asked for what it may not touch (another tenant, an admin route)."""

    status_code = 403
    error_code = "FORBIDDEN"


class PayloadTooLarge(BillingError):
    status_code = 413
    error_code = "PAYLOAD_TOO_LARGE"


class NotFound(BillingError):
    status_code = 404
    error_code = "NOT_FOUND"


class NoCustomer(NotFound):
    def __init__(self, message: str = "No customer ID found") -> None:
        super().__init__(message)


class PlanNotFound(NotFound):
    def __init__(self, plan_name: str) -> None:
        super().__init__(f"Plan not found: {plan_name}")
        self.plan_name = plan_name


class Conflict(BillingError):
    status_code = 409
    error_code = "CONFLICT"


class IdempotencyConflict(Conflict):
    """A consume whose id the customer already used for a different request (another service
    or quantity): nothing is written or admitted (HTTP 409, as Stripe answers a reused
    idempotency key with other parameters)."""

    error_code = "IDEMPOTENCY_CONFLICT"

    def __init__(self, key: str, *, service: str) -> None:
        super().__init__(
            f"Idempotency key {key!a} was already used for a different request"
            f" ({service} with another service or quantity); use a new key"
        )
        self.key = key


class QuotaExceeded(BillingError):
    status_code = 429
    error_code = "QUOTA_EXCEEDED"

    def __init__(self, service: str, message: str | None = None) -> None:
        super().__init__(message or f"Quota exceeded for {service} (hard limit)")
        self.service = service


class DeadlineExceeded(BillingError):
    """A request did not finish within the service's request deadline (``http.limits``)."""

    status_code = 503
    error_code = "DEADLINE_EXCEEDED"


class ProviderError(BillingError):
    """A payment provider failure. ``request_id`` is kept for support, never a secret;
    ``http_status`` and ``code`` are the provider's own."""

    status_code = 502
    error_code = "PROVIDER_ERROR"

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
