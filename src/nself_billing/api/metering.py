"""The spec's metering functions: record usage, the six trackers, and the usage reports.

Each takes the keywords of ``billing_record_usage`` (``idempotency_key``: the same key counts
once; ``at``: when it happened, default now) and returns a ``RecordResult``; bad input raises
``InvalidInput`` (``UnknownService``), an unknown customer ``NotFound``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from ..domain.usage import UsageEvent
from ..recorder import BufferedRecorder
from ..services.usage import BatchResult, RecordResult
from ..settings import parse_flag
from .handle import default_billing

__all__ = [
    "BatchResult",
    "BufferedRecorder",
    "RecordResult",
    "UsageEvent",
    "billing_record_usage",
    "usage_get_all",
    "usage_get_service",
    "usage_track_api_request",
    "usage_track_bandwidth",
    "usage_track_compute",
    "usage_track_database_query",
    "usage_track_function",
    "usage_track_storage",
]

Number = int | str | Decimal


def billing_record_usage(
    service: str,
    quantity: Number | float,
    metadata: object = None,
    *,
    idempotency_key: str | None = None,
    at: datetime | str | None = None,
) -> RecordResult:
    """Record a usage event for the current customer (metadata: a dict or JSON text)."""
    return default_billing().usage.record(
        service, quantity, metadata, idempotency_key=idempotency_key, at=at
    )


def usage_track_api_request(
    endpoint: str,
    method: str = "GET",
    status_code: int | str = 200,
    *,
    idempotency_key: str | None = None,
    at: datetime | str | None = None,
) -> RecordResult:
    """One API request; metadata ``{"endpoint", "method", "status"}``."""
    return default_billing().usage.track_api_request(
        endpoint, method, status_code, idempotency_key=idempotency_key, at=at
    )


def usage_track_storage(
    bytes: Number,
    duration_hours: Number = 1,
    *,
    idempotency_key: str | None = None,
    at: datetime | str | None = None,
) -> RecordResult:
    """Bytes stored for ``duration_hours``, recorded as GB-hours (GB = 2^30 bytes)."""
    return default_billing().usage.track_storage(
        bytes, duration_hours, idempotency_key=idempotency_key, at=at
    )


def usage_track_bandwidth(
    bytes: Number,
    direction: str = "egress",
    *,
    idempotency_key: str | None = None,
    at: datetime | str | None = None,
) -> RecordResult:
    """Bytes transferred (``egress`` or ``ingress``), recorded as GB."""
    return default_billing().usage.track_bandwidth(
        bytes, direction, idempotency_key=idempotency_key, at=at
    )


def usage_track_compute(
    cpu_seconds: Number,
    metadata: object = None,
    *,
    idempotency_key: str | None = None,
    at: datetime | str | None = None,
) -> RecordResult:
    """CPU seconds, recorded as CPU-hours; ``metadata`` is free-form JSON."""
    return default_billing().usage.track_compute(
        cpu_seconds, metadata, idempotency_key=idempotency_key, at=at
    )


def usage_track_database_query(
    query_type: str = "SELECT",
    duration_ms: Number = 0,
    *,
    idempotency_key: str | None = None,
    at: datetime | str | None = None,
) -> RecordResult:
    """One database query; metadata ``{"query_type", "duration_ms"}``."""
    return default_billing().usage.track_database_query(
        query_type, duration_ms, idempotency_key=idempotency_key, at=at
    )


def usage_track_function(
    function_name: str,
    duration_ms: Number = 0,
    memory_mb: Number = 128,
    *,
    idempotency_key: str | None = None,
    at: datetime | str | None = None,
) -> RecordResult:
    """One function invocation; metadata ``{"function", "duration_ms", "memory_mb"}``."""
    return default_billing().usage.track_function(
        function_name, duration_ms, memory_mb, idempotency_key=idempotency_key, at=at
    )


def usage_get_all(
    start: date | str | None = None,
    end: date | str | None = None,
    format: str = "table",
    detailed: bool | str = False,
) -> str:
    """The usage report of every service as text (``table``, ``json`` or ``csv``): from
    ``start`` to ``end`` (YYYY-MM-DD, inclusive), or the current billing period if omitted."""
    return _report(None, start, end, format, detailed)


def usage_get_service(
    service: str,
    start: date | str | None = None,
    end: date | str | None = None,
    format: str = "table",
    detailed: bool | str = False,
) -> str:
    """The usage report of one service, as ``usage_get_all``."""
    return _report(service, start, end, format, detailed)


def _report(
    service: str | None,
    start: date | str | None,
    end: date | str | None,
    output_format: str,
    detailed: bool | str,
) -> str:
    from ..render.usage import render_report

    chosen = "custom" if start or end else "current"
    report = default_billing().usage.summary(
        period=chosen,
        start=start or None,
        end=end or None,
        service=service,
        detailed=parse_flag(detailed, "detailed"),
    )
    return render_report(
        report, output_format or "table", detailed=parse_flag(detailed, "detailed")
    )
