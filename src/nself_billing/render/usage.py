"""How a usage report looks: the spec's USAGE SUMMARY box, JSON and CSV. Shared by ``usage``,
``demo`` and the function API's ``usage_get_all``/``usage_get_service``."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..domain.humanize import human_quantity, plain_number
from ..domain.money import format_money, from_micros, round_money
from ..domain.reporting import ServiceUsage
from .formats import csv_text, json_text, plain_record, table_text

if TYPE_CHECKING:
    from ..services.rollups import RebuildReport
    from ..services.usage_report import UsageReport

#: rollup rows that differ, listed one a line by ``usage rebuild``
SHOWN_DRIFT = 50

SUMMARY_CSV_COLUMNS = ("service", "usage", "unit", "events", "quota", "overage", "cost")
DAILY_CSV_COLUMNS = ("date", "service_name", "usage", "events")


def cost_text(row: ServiceUsage) -> str:
    if row.cost is None:
        return "-"
    return "Included" if row.included else format_money(row.cost)


def period_text(report: UsageReport) -> str:
    last_day = report.period.end_day - timedelta(days=1)
    return f"Period: {report.period.first_day} to {max(last_day, report.period.first_day)}"


def summary_table(report: UsageReport) -> str:
    rows = [
        [row.service, human_quantity(row.service, row.quantity), row.unit, cost_text(row)]
        for row in report.services
    ]
    return table_text(
        ["Service", "Usage", "Unit", "Cost"], rows, banner=["USAGE SUMMARY", period_text(report)]
    )


def daily_table(report: UsageReport) -> str:
    rows = [
        [str(d.day), d.service, human_quantity(d.service, d.quantity), f"{d.events:,}"]
        for d in report.daily
    ]
    if not rows:
        return "No usage recorded in this period."
    return table_text(
        ["Date", "Service", "Usage", "Events"], rows, justify=["left", "left", "right", "right"]
    )


def report_record(report: UsageReport, *, detailed: bool) -> dict[str, Any]:
    """The one record of a usage report (money to the cent): ``usage --format json``,
    ``usage_get_all|usage_get_service(format="json")`` and ``GET /v1/usage``."""
    record: dict[str, Any] = {
        "customer_id": report.customer_id,
        "plan": report.plan_name,
        "period_start": report.period.start,
        "period_end": report.period.end,
        "services": [
            {
                "service": row.service,
                "usage": plain_number(row.quantity),
                "unit": row.unit,
                "events": row.events,
                "quota": None if row.limit is None else plain_number(row.limit),
                "overage": plain_number(row.overage),
                "cost": None if row.cost is None else round_money(row.cost),
                "included": row.included,
            }
            for row in report.services
        ],
        "total_cost": round_money(report.total_cost),
    }
    if detailed:
        record["daily"] = [
            {
                "date": d.day,
                "service_name": d.service,
                "usage": plain_number(d.quantity),
                "events": d.events,
            }
            for d in report.daily
        ]
    return record


def report_http_record(report: UsageReport) -> dict[str, Any]:
    """``GET /v1/usage``: the record, as JSON."""
    return plain_record(report_record(report, detailed=False))


def render_report(report: UsageReport, output_format: str, *, detailed: bool) -> str:
    """The whole report as text in ``table``, ``json`` or ``csv`` (CSV: the per-service summary,
    or with ``detailed`` the per-day rows in the export's columns)."""
    if output_format == "json":
        return json_text(report_record(report, detailed=detailed)) + "\n"
    if output_format == "csv":
        if detailed:
            return csv_text(
                DAILY_CSV_COLUMNS,
                [[d.day, d.service, plain_number(d.quantity), d.events] for d in report.daily],
            )
        return csv_text(
            SUMMARY_CSV_COLUMNS,
            [
                [
                    row.service,
                    plain_number(row.quantity),
                    row.unit,
                    row.events,
                    "unlimited" if row.limit is None else plain_number(row.limit),
                    plain_number(row.overage),
                    "" if row.cost is None else row.cost,
                ]
                for row in report.services
            ],
        )
    if output_format != "table":
        from ..errors import InvalidInput

        raise InvalidInput(f"Invalid format: {output_format} (expected table, json or csv)")
    text = summary_table(report)
    if detailed:
        text += "\n\nDaily breakdown\n" + daily_table(report)
    return text + "\n"


def drift_lines(report: RebuildReport) -> list[str]:
    """``usage rebuild``: the rollup rows that differ from the raw events (the first 50)."""
    lines = [
        f"{row.customer_id} {row.service} {row.day}: rollup "
        f"{from_micros(row.stored[0])} in {row.stored[1]} events, raw events "
        f"{from_micros(row.recounted[0])} in {row.recounted[1]}"
        for row in report.drift[:SHOWN_DRIFT]
    ]
    if len(report.drift) > SHOWN_DRIFT:
        lines.append(f"... and {len(report.drift) - SHOWN_DRIFT:,} more")
    return lines
