"""The spec's six trackers as pure conversions: tracker arguments -> (service, quantity, metadata).

The metadata is what the bash tool stored (``{"endpoint", "method", "status"}`` for an API
request), plus the raw inputs of a converted quantity (bytes, hours, seconds) so that an invoice
line can be explained later. A converted quantity (bytes to GB, seconds to hours) is rounded
half-up to the 6 decimal places a quantity has (``quantities.converted_quantity``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..errors import InvalidInput
from .money import to_decimal
from .quantities import converted_quantity
from .services import bandwidth_gb, compute_cpu_hours, storage_gb_hours
from .usage import parse_metadata

DIRECTIONS = ("egress", "ingress")


@dataclass(frozen=True)
class Tracked:
    service: str
    quantity: Decimal
    metadata: dict[str, Any]


def _non_negative(name: str, value: object) -> Decimal:
    try:
        number = to_decimal(value)
    except ValueError as error:
        raise InvalidInput(f"Invalid {name}: {error}") from None
    if number < 0:
        raise InvalidInput(f"Invalid {name}: {value} (must be zero or more)")
    return number


def _whole(name: str, value: object) -> int:
    number = _non_negative(name, value)
    if number != number.to_integral_value():
        raise InvalidInput(f"Invalid {name}: {value} (must be a whole number)")
    return int(number)


def api_request(endpoint: str, method: str = "GET", status_code: int | str = 200) -> Tracked:
    if not isinstance(endpoint, str) or not endpoint:
        raise InvalidInput("Invalid endpoint: must be a non-empty path")
    status = _whole("status code", status_code)
    if not 100 <= status <= 599:
        raise InvalidInput(f"Invalid status code: {status_code} (expected 100-599)")
    return Tracked(
        "api", Decimal(1), {"endpoint": endpoint, "method": str(method).upper(), "status": status}
    )


def storage(num_bytes: int | str | Decimal, duration_hours: int | str | Decimal = 1) -> Tracked:
    size = _whole("bytes", num_bytes)
    hours = _non_negative("duration_hours", duration_hours)
    return Tracked(
        "storage",
        converted_quantity(storage_gb_hours(size, hours)),
        {"bytes": size, "duration_hours": _json_number(hours)},
    )


def bandwidth(num_bytes: int | str | Decimal, direction: str = "egress") -> Tracked:
    size = _whole("bytes", num_bytes)
    if direction not in DIRECTIONS:
        raise InvalidInput(f"Invalid direction: {direction} (expected egress or ingress)")
    return Tracked(
        "bandwidth", converted_quantity(bandwidth_gb(size)), {"bytes": size, "direction": direction}
    )


def compute(cpu_seconds: int | str | Decimal, metadata: object = None) -> Tracked:
    seconds = _non_negative("cpu_seconds", cpu_seconds)
    extra = parse_metadata(metadata)
    return Tracked(
        "compute",
        converted_quantity(compute_cpu_hours(seconds)),
        {**extra, "cpu_seconds": extra.get("cpu_seconds", _json_number(seconds))},
    )


def database_query(query_type: str = "SELECT", duration_ms: int | str | Decimal = 0) -> Tracked:
    duration = _non_negative("duration_ms", duration_ms)
    return Tracked(
        "database",
        Decimal(1),
        {"query_type": str(query_type).upper(), "duration_ms": _json_number(duration)},
    )


def function(
    function_name: str, duration_ms: int | str | Decimal = 0, memory_mb: int | str | Decimal = 128
) -> Tracked:
    if not isinstance(function_name, str) or not function_name:
        raise InvalidInput("Invalid function name: must not be empty")
    duration = _non_negative("duration_ms", duration_ms)
    memory = _non_negative("memory_mb", memory_mb)
    return Tracked(
        "functions",
        Decimal(1),
        {
            "function": function_name,
            "duration_ms": _json_number(duration),
            "memory_mb": _json_number(memory),
        },
    )


def _json_number(value: Decimal) -> int | str:
    """Whole numbers stay JSON numbers; fractions are kept exact as strings."""
    if value == value.to_integral_value():
        return int(value)
    return format(value.normalize(), "f")
