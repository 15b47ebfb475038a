"""What an export writes for each object: the columns of each CSV file and the records (plain
JSON values: Decimals as exact text, times in ISO 8601)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ..domain.humanize import plain_number

USAGE_CSV_COLUMNS = ("date", "service_name", "usage", "events")
INVOICE_COLUMNS = (
    "invoice_id",
    "customer_id",
    "subscription_id",
    "kind",
    "status",
    "total_amount",
    "currency",
    "period_start",
    "period_end",
    "created_at",
    "paid_at",
    "number",
    "due_at",
)
SUBSCRIPTION_COLUMNS = (
    "subscription_id",
    "customer_id",
    "plan_name",
    "status",
    "billing_interval",
    "current_period_start",
    "current_period_end",
    "cancel_at_period_end",
    "scheduled_plan_name",
    "trial_end",
    "created_at",
    "canceled_at",
)
PAYMENT_METHOD_COLUMNS = (
    "payment_method_id",
    "customer_id",
    "type",
    "brand",
    "last4",
    "exp_month",
    "exp_year",
    "is_default",
    "created_at",
)


def plain(value: Any) -> Any:
    """A value as JSON holds it (Decimal as exact text, dates and times in ISO 8601)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def csv_value(value: Any) -> Any:
    """A value as a CSV field holds it (nested values as JSON, None as empty)."""
    value = plain(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else value


def csv_row(record: dict[str, Any], columns: Sequence[str]) -> list[Any]:
    return [csv_value(record.get(column)) for column in columns]


def daily_usage_record(day: date, service: str, quantity: Decimal, events: int) -> dict[str, Any]:
    """One day of one service's usage."""
    return {
        "date": day.isoformat(),
        "service_name": service,
        "usage": plain_number(quantity),
        "events": events,
    }


def raw_usage_record(row: Sequence[Any]) -> dict[str, Any]:
    """One raw event from a row of ``store.export.RAW_USAGE_COLUMNS`` (values as text)."""
    metadata = row[6]
    return {
        "id": int(row[0]),
        "customer_id": row[1],
        "service_name": row[2],
        "quantity": row[3],
        "recorded_at": row[4],
        "idempotency_key": row[5],
        "metadata": json.loads(metadata) if metadata else None,
    }


def customer_record(customer: Any) -> dict[str, Any] | None:
    if customer is None:
        return None
    return {
        "customer_id": customer.customer_id,
        "email": customer.email,
        "name": customer.name,
        "phone": customer.phone,
        "project_name": customer.project_name,
        "created_at": customer.created_at,
    }
