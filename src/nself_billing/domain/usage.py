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
from .money import to_micros
from .quantities import parse_quantity
from .services import SERVICE_NAMES, is_service

__all__ = ["parse_quantity"]  # the one quantity reader (domain/quantities.py), re-exported


def text_problem(value: str) -> str | None:
    """Why a text cannot be stored alike on both backends, or None: PostgreSQL's text and
    jsonb cannot hold NUL, and a lone surrogate (``"\\ud800"``, what an undecodable byte
    becomes in a command-line argument) is not UTF-8 at all."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode (no lone surrogates)"
    return None


def _json_text_problem(value: object) -> str | None:
    """The first ``text_problem`` of any string (key or value) in a JSON document."""
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, dict):
        for key, item in value.items():
            problem = (text_problem(key) if isinstance(key, str) else None) or _json_text_problem(
                item
            )
            if problem:
                return problem
    elif isinstance(value, list | tuple):
        for item in value:
            problem = _json_text_problem(item)
            if problem:
                return problem
    return None


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
            text = "".join(_encode(value, 0))
        else:
            text = json.dumps(value, default=_json_default, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as error:
        raise InvalidInput(f"Invalid metadata: {error}") from None
    # the text is ASCII (\uXXXX escapes): NUL shows as \u0000 and any surrogate as \udXXX,
    # so a clean document costs two substring scans; a hit is confirmed on the values
    if "\\u0000" in text or "\\ud" in text:
        problem = _json_text_problem(value)
        if problem:
            raise InvalidInput(f"Invalid metadata: {problem}")
    return value, text


def check_service(service: str) -> str:
    if not is_service(service):
        raise UnknownService(service, SERVICE_NAMES)
    return service


def check_timestamp(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise InvalidInput("Invalid timestamp: a time zone is required (e.g. 2026-01-15T12:00Z)")
    return at


def micros_of(quantity: Decimal) -> int:
    return to_micros(quantity)


MAX_KEY_LENGTH = 255


def check_idempotency_key(key: object, *, maximum: int = MAX_KEY_LENGTH) -> str:
    """A client's event id: 1 to ``maximum`` characters of valid Unicode without NUL. It is
    unique per customer (the pair is the event's identity), so it is stored as given."""
    if not isinstance(key, str) or not key or len(key) > maximum:
        shown = key if not isinstance(key, str) else key[:40]
        raise InvalidInput(f"Invalid idempotency key: {shown!a} (1 to {maximum} characters)")
    if not key.isascii() or "\x00" in key:
        problem = text_problem(key)
        if problem:
            raise InvalidInput(f"Invalid idempotency key: {problem}")
    return key


def is_plain_key(key: object) -> bool:
    """The hot path's check: a key that ``check_idempotency_key`` accepts as it is, decided
    without a call (ASCII without NUL)."""
    return (
        type(key) is str and 0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and "\x00" not in key
    )


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
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-02:00 is past the last representable moment
        raise InvalidInput(f"Invalid timestamp: {value!r} (out of range)") from None


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
