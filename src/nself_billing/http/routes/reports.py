"""The read API's usage summary and invoices of the caller's customer."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ...domain.humanize import plain_number
from ..auth import CallerKey, customer_for, get_billing
from ..threads import in_thread
from .account import CustomerParam

router = APIRouter(tags=["account"])
#: the days a report may span (past them, the period's day arithmetic would overflow)
EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(9998, 12, 31)
invoices_router = APIRouter(tags=["account"])


def _number(value: Decimal | None) -> str | None:
    return None if value is None else plain_number(value)


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


@router.get(
    "/v1/usage",
    summary="Usage summary of the caller's customer",
    responses={422: {"description": "Invalid period or dates"}},
)
async def get_usage(
    request: Request,
    key: CallerKey,
    customer_id: CustomerParam = None,
    period: Annotated[str, Query(pattern="^(current|last-month|custom)$")] = "current",
    start: Annotated[
        date | None, Query(ge=EARLIEST_DAY, le=LATEST_DAY, description="custom period: first day")
    ] = None,
    end: Annotated[
        date | None,
        Query(ge=EARLIEST_DAY, le=LATEST_DAY, description="custom period: last day (inclusive)"),
    ] = None,
    service: Annotated[str | None, Query(max_length=50)] = None,
) -> dict[str, Any]:
    customer = customer_for(key, customer_id)
    usage = get_billing(request).usage
    report = await in_thread(
        request,
        lambda: usage.summary(
            customer_id=customer, period=period, start=start, end=end, service=service
        ),
    )
    return {
        "customer_id": report.customer_id,
        "plan": report.plan_name,
        "period_start": report.period.start.isoformat(),
        "period_end": report.period.end.isoformat(),
        "services": [
            {
                "service": row.service,
                "unit": row.unit,
                "quantity": _number(row.quantity),
                "events": row.events,
                "limit": _number(row.limit),
                "overage": _number(row.overage),
                "cost": _money(row.cost),
            }
            for row in report.services
        ],
        "total_cost": _money(report.total_cost),
    }


@invoices_router.get("/v1/invoices", summary="Invoices of the caller's customer, newest first")
async def get_invoices(
    request: Request,
    key: CallerKey,
    customer_id: CustomerParam = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    customer = customer_for(key, customer_id)
    invoices = get_billing(request).invoices
    found = await in_thread(request, lambda: invoices.list(customer, limit=limit))
    return {
        "customer_id": customer,
        "invoices": [
            {
                "invoice_id": invoice.invoice_id,
                "number": invoice.number,
                "status": invoice.status,
                "kind": invoice.kind,
                "currency": invoice.currency,
                "total": _money(invoice.total),
                "period_start": invoice.period_start.isoformat() if invoice.period_start else None,
                "period_end": invoice.period_end.isoformat() if invoice.period_end else None,
                "created_at": invoice.created_at.isoformat() if invoice.created_at else None,
                "paid_at": invoice.paid_at.isoformat() if invoice.paid_at else None,
                "due_at": invoice.due_at.isoformat() if invoice.due_at else None,
            }
            for invoice in found
        ],
    }
