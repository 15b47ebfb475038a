"""Validation of a usage event, pure."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..errors import InvalidInput, UnknownService
from .money import MAX_QUANTITY, quantize_quantity, to_decimal, to_micros
from .services import is_service


def parse_quantity(value: object) -> Decimal:
    try:
        quantity = to_decimal(value)
    except ValueError as error:
        raise InvalidInput(f"Invalid quantity: {error}") from None
    if quantity < 0:
        raise InvalidInput(f"Invalid quantity: {value} (must be zero or more)")
    rounded = quantize_quantity(quantity)
    if rounded > MAX_QUANTITY:
        raise InvalidInput(f"Invalid quantity: {value} (too large)")
    return rounded


def parse_metadata(value: object) -> dict[str, Any]:
    """A JSON object given as a dict or as JSON text; anything else is rejected."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise InvalidInput(f"Invalid metadata JSON: {error.msg} at position {error.pos}"
                               ) from None
    if not isinstance(value, dict):
        raise InvalidInput("Invalid metadata: must be a JSON object")
    try:
        json.dumps(value)
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"Invalid metadata: {error}") from None
    return value


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
