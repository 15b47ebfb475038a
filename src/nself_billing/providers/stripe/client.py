"""The Stripe client shared by every area: the SDK's ``StripeClient`` with our options, the
error mapping (every Stripe error becomes one ``ProviderError`` line that never holds a
secret), idempotency keys, and the conversions between our values and Stripe's."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from ...errors import ConfigError, ProviderError
from ...settings import Settings

T = TypeVar("T")

#: currencies whose amounts Stripe counts in whole units (no minor unit)
ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
#: currencies with three decimals (Stripe's minor unit is the thousandth)
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
#: the oldest API version whose shapes the adapter reads (periods on subscription items,
#: an invoice's subscription under ``parent``)
OLDEST_API_VERSION = "2025-03-31"
_SECRET_PATTERN = re.compile(r"\b(sk|rk|whsec)_(live|test)?_?[A-Za-z0-9*]+")
INTERVAL_KEYS = {"month": "monthly", "year": "yearly"}


def price_lookup_key(plan_name: str, interval: str) -> str:
    return f"nself_{plan_name}_{INTERVAL_KEYS[interval]}"


def overage_lookup_key(plan_name: str, service: str) -> str:
    return f"nself_{plan_name}_{service}_overage"


def meter_event_name(service: str) -> str:
    return f"nself_{service}"


def product_id(plan_name: str) -> str:
    """Stripe lets us choose a product id: a fixed one makes the catalog sync find-or-create."""
    return f"nself_plan_{plan_name}"


def minor_exponent(currency: str) -> int:
    code = currency.lower()
    if code in ZERO_DECIMAL:
        return 0
    return 3 if code in THREE_DECIMAL else 2


def to_minor(amount: Decimal, currency: str) -> int:
    return int((amount * (10 ** minor_exponent(currency))).to_integral_value())


def from_minor(amount: int | None, currency: str) -> Decimal:
    exponent = minor_exponent(currency)
    value: Decimal = Decimal(amount or 0) / Decimal(10**exponent)
    return value.quantize(Decimal(1).scaleb(-exponent))


def unit_amount_decimal(price: Decimal, currency: str) -> str:
    """A per-unit price in minor units with up to 12 decimals (Stripe's ``unit_amount_decimal``)."""
    value = (price * (10 ** minor_exponent(currency))).quantize(Decimal("1e-12")).normalize()
    text = format(value, "f")
    return "0" if text in ("-0", "0") else text


def stripe_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(int(value), UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def scrub(text: str) -> str:
    return _SECRET_PATTERN.sub(lambda m: m.group(1) + "_***", text)


def digest(params: Any) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


def error_message(error: Any) -> str:
    """The first line of an SDK error's message, whole (never cut inside a word)."""
    text = str(getattr(error, "user_message", None) or error).strip().splitlines()
    return text[0].strip() if text else type(error).__name__


def network_message(error: Any) -> str:
    """A connection failure as one whole line: the SDK's message spans several lines and puts
    the cause last, in parentheses."""
    text = " ".join(str(getattr(error, "user_message", None) or error).split())
    marker = "(Network error: "
    if marker in text:
        cause = text.split(marker, 1)[1].removesuffix(")")
        return f"could not reach Stripe (network error: {cause})"
    return f"could not reach Stripe ({text})" if text else "could not reach Stripe"


def check_api_version(version: str | None) -> None:
    """Warn about a pinned API version older than the shapes the adapter reads."""
    if version and version[:10] < OLDEST_API_VERSION:
        warnings.warn(
            f"STRIPE_API_VERSION {version} is older than {OLDEST_API_VERSION}: subscription "
            "periods and invoice parents are read from older fields",
            RuntimeWarning,
            stacklevel=3,
        )


class StripeClientBase:
    """One ``StripeClient`` (``http_client=`` injectable) and the plumbing of every call."""

    name = "stripe"

    def __init__(
        self,
        settings: Settings,
        *,
        http_client: Any = None,
        max_network_retries: int = 2,
        meter_api: str = "auto",
    ) -> None:
        """``meter_api``: ``auto`` sends meter events through the v2 stream when the SDK has
        it, ``v1`` forces ``billing.meter_events`` (a Stripe-compatible server without v2)."""
        if settings.stripe_secret_key is None:
            raise ConfigError("STRIPE_SECRET_KEY is not set (needed for BILLING_PROVIDER=stripe)")
        import stripe

        options: dict[str, Any] = {"max_network_retries": max_network_retries}
        if settings.stripe_api_version:
            check_api_version(settings.stripe_api_version)
            options["stripe_version"] = settings.stripe_api_version
        if settings.stripe_api_base:
            base = settings.stripe_api_base.rstrip("/").removesuffix("/v1")
            # a Stripe-compatible server answers every base address at one place
            options["base_addresses"] = {
                "api": base,
                "files": base,
                "connect": base,
                "meter_events": base,
            }
        if http_client is None:
            http_client = stripe.new_default_http_client()
        options["http_client"] = http_client
        self._settings = settings
        self._http = http_client
        self.client = stripe.StripeClient(settings.stripe_secret_key.reveal(), **options)
        if meter_api not in ("auto", "v1"):
            raise ConfigError(f"Invalid meter API: {meter_api} (expected auto or v1)")
        self._meter_api = meter_api
        self._meter_session: tuple[str, float] | None = None
        self._meter_ids: dict[str, str] = {}
        self._lock = threading.Lock()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        import stripe

        try:
            yield
        except stripe.AuthenticationError as error:
            raise ProviderError(
                "Stripe API error: Invalid API Key (check STRIPE_SECRET_KEY)",
                request_id=error.request_id,
                http_status=error.http_status,
                code="authentication",
            ) from None
        except stripe.APIConnectionError as error:
            raise ProviderError(
                f"Stripe API error: {self._clean(network_message(error))}",
                http_status=None,
                code="network",
            ) from None
        except stripe.StripeError as error:
            message = self._clean(error.user_message or error_message(error))
            suffix = f" (request {error.request_id})" if error.request_id else ""
            raise ProviderError(
                f"Stripe API error: {message}{suffix}",
                request_id=error.request_id,
                http_status=error.http_status,
                code=error.code,
            ) from None

    def _clean(self, text: str) -> str:
        key = self._settings.stripe_secret_key
        if key is not None and key.reveal() and key.reveal() in text:
            text = text.replace(key.reveal(), "***")
        return scrub(text)

    def call(self, operation: Callable[[], T]) -> T:
        with self._errors():
            return operation()

    def _get(self, operation: Callable[[], Any]) -> dict[str, Any]:
        """Run an SDK call and return the object as plain data."""
        result = self.call(operation)
        return result.to_dict() if hasattr(result, "to_dict") else dict(result or {})

    @staticmethod
    def _idem(key: str) -> Any:
        """Request options with an idempotency key (Stripe keeps them at most 255 chars)."""
        return {"idempotency_key": key[:255]}
