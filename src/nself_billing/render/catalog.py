"""How plans look: the plan record, the plan table, a plan's details and the comparison."""

from __future__ import annotations

from typing import Any

from ..domain.humanize import human_limit, plain_number
from ..domain.money import format_price
from ..domain.plans import Plan
from ..domain.services import SERVICE_NAMES, unit_of
from .formats import table_text

PLAN_COLUMNS = ("plan", "price_monthly", "price_yearly", "description", "tier")
#: ``plan show --format csv``: one row per service of the plan
PLAN_SERVICE_COLUMNS = ("plan", "service", "limit", "unit", "mode", "overage_price")


def plan_record(plan: Plan) -> dict[str, Any]:
    return {
        "plan": plan.name,
        "price_monthly": plan.price_monthly,
        "price_yearly": plan.price_yearly,
        "description": plan.description,
        "tier": plan.tier,
        "stripe_price_id": plan.stripe_price_id,
        "quotas": {
            quota.service: {
                "limit": quota.limit,
                "unit": quota.unit,
                "mode": quota.mode.value,
                "overage_price": quota.overage_price,
            }
            for quota in plan.quotas
        },
    }


def plan_service_records(plan: Plan) -> list[dict[str, Any]]:
    return [
        {
            "plan": plan.name,
            "service": s,
            "limit": plan.quota_for(s).limit,
            "unit": unit_of(s),
            "mode": plan.quota_for(s).mode.value,
            "overage_price": plan.quota_for(s).overage_price,
        }
        for s in SERVICE_NAMES
    ]


def plans_table(plans: list[Plan], *, detailed: bool = False) -> str:
    columns = ["Plan", "Price/Month", "Features"]
    if detailed:
        columns += ["Price/Year", "Price ID"]
    rows = []
    for plan in plans:
        row = [plan.display_name, format_price(plan.price_monthly), plan.description]
        if detailed:
            row += [format_price(plan.price_yearly), plan.stripe_price_id or "-"]
        rows.append(row)
    return table_text(columns, rows)


def plan_details(plan: Plan) -> str:
    lines = [f"Plan Details: {plan.name}"]
    for service in SERVICE_NAMES:
        quota = plan.quota_for(service)
        limit = "unlimited" if quota.limit is None else plain_number(quota.limit)
        lines.append(f"  {service:<10} : {limit} {unit_of(service)}")
    if plan.is_custom:
        lines.append("Price: Custom")
    else:
        lines.append(
            f"Price: {format_price(plan.price_monthly)}/month, "
            f"{format_price(plan.price_yearly)}/year"
        )
    modes = sorted({quota.mode.value for quota in plan.quotas})
    if modes:
        lines.append(f"Enforcement: {', '.join(modes)}")
    return "\n".join(lines)


def compare_records(plans: list[Plan]) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """``plan compare`` as records (one per service, a column per plan) and their columns."""
    records = [
        {"service": s, "unit": unit_of(s), **{p.name: p.quota_for(s).limit for p in plans}}
        for s in SERVICE_NAMES
    ]
    return records, ("service", "unit", *[p.name for p in plans])


def compare_table(plans: list[Plan]) -> str:
    rows = [["Price/Month", *[format_price(p.price_monthly) for p in plans]]]
    for service in SERVICE_NAMES:
        rows.append(
            [
                f"{service} ({unit_of(service)})",
                *[human_limit(service, p.quota_for(service).limit) for p in plans],
            ]
        )
    rows.append(
        ["Mode", *[", ".join(sorted({q.mode.value for q in p.quotas})) or "-" for p in plans]]
    )
    return table_text(["Service", *[p.display_name for p in plans]], rows)


def compare_lines(plans: list[Plan]) -> list[str]:
    """``stripe_plans_compare``'s lines: a service, then ``plan=limit`` for each plan."""
    lines = []
    for service in SERVICE_NAMES:
        cells = "  ".join(
            f"{p.name}={human_limit(service, p.quota_for(service).limit)}" for p in plans
        )
        lines.append(f"{service:<10} {cells}")
    return lines
