"""How quotas look: the quota status record, the QUOTA LIMITS and QUOTA ALERTS tables, and
their JSON and CSV (``quota`` and the ``quota_get_*`` functions)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..domain.humanize import human_limit, human_quantity
from .formats import csv_text, json_text, plain_record, spec_numbers, table_text

if TYPE_CHECKING:
    from ..services.quotas import AlertRecord, QuotaLine

LIMIT_COLUMNS = ("service", "quota", "unit", "mode", "source")
USAGE_COLUMNS = (*LIMIT_COLUMNS, "usage", "available", "percent", "status")
LEGEND = (
    "Status Legend:",
    "✓ - Below 75% of quota",
    "⚡ - 75-89% of quota (Warning)",
    "⚠ - 90% or above (Critical)",
    "⚠ OVER - Quota exceeded",
)


def status_text(line: QuotaLine) -> str:
    if line.quota.limit is None:
        return "✓ Unlimited"
    return f"{line.band.icon} {line.percent}%"


def _exact(value: Decimal | None) -> Decimal | None:
    """Without the storage's six trailing zeros: 1000000, 0.5."""
    return None if value is None else value.normalize() + 0


def quota_record(line: QuotaLine, *, with_usage: bool) -> dict[str, Any]:
    """The one record of a quota: its limit (``quota --format json``), and with ``with_usage``
    its status in the period (``quota --usage``, ``quota_get_*``, ``billing_get_quota_status``
    and each quota of ``GET /v1/quota``). ``quota``, ``mode`` and ``percent`` are null when
    unlimited."""
    quota = line.quota
    limited = quota.limit is not None
    record: dict[str, Any] = {
        "service": line.service,
        "quota": _exact(quota.limit),
        "unit": quota.unit,
        "mode": quota.mode.value if limited else None,
        "source": quota.source,
    }
    if with_usage:
        record |= {
            "usage": _exact(line.usage or Decimal(0)),
            "available": _exact(line.available),
            "percent": line.percent if limited else None,
            "status": line.band.value,
            "period_start": line.period.start,
            "period_end": line.period.end,
        }
    return record


#: what ``billing_get_quota_status`` leaves out of the record: its fields are the spec's and
#: those docs/API.md lists for it
SPEC_STATUS_OMITS = ("source",)


def quota_status_spec_json(line: QuotaLine) -> str:
    """``billing_get_quota_status``: the record as the spec's bash function printed it (the
    figures as JSON numbers)."""
    record = quota_record(line, with_usage=True)
    return json.dumps(spec_numbers({k: v for k, v in record.items() if k not in SPEC_STATUS_OMITS}))


def quota_http_record(line: QuotaLine) -> dict[str, Any]:
    """One quota of ``GET /v1/quota``: the status record, as JSON, with the band's ``icon``
    the HTTP API answered before the one record."""
    return plain_record(quota_record(line, with_usage=True)) | {"icon": line.band.icon}


def _limit_cell(line: QuotaLine) -> str:
    text = human_limit(line.service, line.quota.limit)
    return text + " *" if line.quota.source == "override" else text


def quotas_table(plan_name: str, lines: Sequence[QuotaLine], *, with_usage: bool) -> str:
    banner = ("QUOTA LIMITS", f"Plan: {plan_name}")
    if with_usage:
        columns = ["Service", "Limit", "Current Usage", "Available", "Status"]
        rows = [
            [
                line.service,
                _limit_cell(line),
                human_quantity(line.service, line.usage or Decimal(0)),
                human_limit(line.service, line.available),
                status_text(line),
            ]
            for line in lines
        ]
    else:
        columns = ["Service", "Limit", "Type", "Mode"]
        rows = [
            [
                line.service,
                _limit_cell(line),
                line.quota.unit,
                line.quota.mode.value if line.quota.limit is not None else "-",
            ]
            for line in lines
        ]
    text = table_text(columns, rows, banner=banner)
    notes = []
    if any(line.quota.source == "override" for line in lines):
        notes.append("* per-customer override of the plan's quota")
    if with_usage:
        notes += ["", *LEGEND] if notes else LEGEND
    return "\n".join([text, *notes]) if notes else text


def render_quotas(
    plan_name: str, lines: Sequence[QuotaLine], *, with_usage: bool, output_format: str
) -> str:
    records = [quota_record(line, with_usage=with_usage) for line in lines]
    if output_format == "json":
        return json_text(records)
    if output_format == "csv":
        columns = USAGE_COLUMNS if with_usage else LIMIT_COLUMNS
        return csv_text(columns, [[r.get(c) for c in columns] for r in records]).rstrip("\r\n")
    return quotas_table(plan_name, lines, with_usage=with_usage)


def render_alerts(
    plan_name: str,
    hot: Sequence[QuotaLine],
    records: Sequence[AlertRecord],
    *,
    output_format: str,
    services: Sequence[str] | None = None,
) -> str:
    by_service: dict[str, list[AlertRecord]] = {}
    for record in records:
        by_service.setdefault(record.service, []).append(record)
    lines = [line for line in hot if services is None or line.service in services]
    if output_format != "table":
        data = []
        for line in lines:
            item = quota_record(line, with_usage=True)
            item["alerts"] = [
                {
                    "threshold": r.threshold,
                    "usage": _exact(r.usage),
                    "quota": _exact(r.limit),
                    "recorded_at": r.created_at,
                }
                for r in by_service.get(line.service, [])
            ]
            data.append(item)
        if output_format == "json":
            return json_text(data)
        columns = (*USAGE_COLUMNS, "alerts")
        rows = [
            [
                *(d.get(c) for c in USAGE_COLUMNS),
                " ".join(f"{a['threshold']}%" for a in d["alerts"]),
            ]
            for d in data
        ]
        return csv_text(columns, rows).rstrip("\r\n")
    if not lines:
        return "No quota alerts: every service is below 75% of its quota."
    table_rows: list[list[str]] = [
        [
            line.service,
            _limit_cell(line),
            human_quantity(line.service, line.usage or Decimal(0)),
            status_text(line),
            ", ".join(f"{r.threshold}%" for r in by_service.get(line.service, [])) or "-",
        ]
        for line in lines
    ]
    return table_text(
        ["Service", "Limit", "Current Usage", "Status", "Alerts Recorded"],
        table_rows,
        banner=("QUOTA ALERTS", f"Plan: {plan_name}"),
    )
