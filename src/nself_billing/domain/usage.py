"""Validation of a usage event, pure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import Any

try:
    from json.encoder import c_make_encoder  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - CPython always has it
    c_make_encoder = None

from ..errors import InvalidInput, UnknownService
from .money import MAX_QUANTITY, quantize_quantity, to_decimal, to_micros
from .services import is_service


def parse_quantity(value: object, maximum: Decimal = MAX_QUANTITY) -> Decimal:
    try:
        quantity = to_decimal(value)
    except ValueError as error:
        raise InvalidInput(f"Invalid quantity: {error}") from None
    if quantity < 0:
        raise InvalidInput(f"Invalid quantity: {value} (must be zero or more)")
    rounded = quantize_quantity(quantity)
    if rounded > maximum:
        raise InvalidInput(f"Invalid quantity: {value} (too large: at most {maximum:,})")
    return rounded


def parse_metadata(value: object) -> dict[str, Any]:
    """A JSON object given as a dict or as JSON text; anything else is rejected."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise InvalidInput(
                f"Invalid metadata JSON: {error.msg} at position {error.pos}"
            ) from None
    if not isinstance(value, dict):
        raise InvalidInput("Invalid metadata: must be a JSON object")
    try:
        json.dumps(value)
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"Invalid metadata: {error}") from None
    return value


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):  # numbers parsed exactly (an import's parse_float=Decimal)
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# json.dumps builds a new C encoder on every call; the hot path keeps one (same output as
# json.dumps' defaults, but NaN and Infinity are refused: PostgreSQL's jsonb rejects them)
_encode = (
    c_make_encoder(
        None, _json_default, encode_basestring_ascii, None, ": ", ", ", False, False, False
    )
    if c_make_encoder is not None
    else None
)


def metadata_and_json(value: object) -> tuple[dict[str, Any], str]:
    """The metadata object and its JSON text (serialized once, as it is stored)."""
    if value is None or value == "":
        return {}, "{}"
    if isinstance(value, str):
        value = parse_metadata(value)
    if not isinstance(value, dict):
        raise InvalidInput("Invalid metadata: must be a JSON object")
    try:
        if _encode is not None:
            return value, "".join(_encode(value, 0))
        return value, json.dumps(value, default=_json_default, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as error:
        raise InvalidInput(f"Invalid metadata: {error}") from None


def check_service(service: str) -> str:
    if not is_service(service):
        raise UnknownService(service)
    return service


def check_timestamp(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise InvalidInput("Invalid timestamp: a time zone is required (e.g. 2026-01-15T12:00Z)")
    return at


def micros_of(quantity: Decimal) -> int:
    return to_micros(quantity)


MAX_KEY_LENGTH = 255


def check_idempotency_key(key: str) -> str:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"Invalid idempotency key: {key!r} (1 to {MAX_KEY_LENGTH} characters)")
    return key


def parse_timestamp(value: object) -> datetime:
    """An ISO 8601 time (``2026-01-15``, ``2026-01-15T12:00:00Z``, ``...+02:00``) or a datetime;
    a time without a zone is taken as UTC. Returned in UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput(
                f"Invalid timestamp: {value!r} (expected ISO 8601, e.g. 2026-01-15T12:00:00Z)"
            ) from None
    else:
        raise InvalidInput(f"Invalid timestamp: {value!r}")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class UsageEvent:
    """One event for ``record_many``: the keywords of ``billing_record_usage``, plus the
    customer (default: the current one)."""

    service: str
    quantity: object
    metadata: object = None
    idempotency_key: str | None = None
    at: datetime | None = None
    customer_id: str | None = None
