"""The read API's usage summary and invoices of the caller's customer."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ...render.invoices import invoice_http_record
from ...render.usage import report_http_record
from ...services.apikeys import ApiKey
from ..auth import CallerKey, customer_for, get_billing
from ..threads import in_thread
from .account import CustomerParam

router = APIRouter(tags=["account"])
#: the days a report may span (past them, the period's day arithmetic would overflow)
EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(9998, 12, 31)
invoices_router = APIRouter(tags=["account"])
MAX_INVOICES, DEFAULT_INVOICES = 500, 50
#: usage report periods (``custom`` takes ``start`` and ``end``)
PERIODS = ("current", "last-month", "custom")
MAX_SERVICE_LENGTH = 50


@router.get(
    "/v1/usage",
    summary="Usage summary of the caller's customer",
    responses={422: {"description": "Invalid period or dates"}},
)
async def get_usage(
    request: Request,
    key: CallerKey,
    customer_id: CustomerParam = None,
    period: Annotated[str, Query(pattern="^(" + "|".join(PERIODS) + ")$")] = "current",
    start: Annotated[
        date | None, Query(ge=EARLIEST_DAY, le=LATEST_DAY, description="custom period: first day")
    ] = None,
    end: Annotated[
        date | None,
        Query(ge=EARLIEST_DAY, le=LATEST_DAY, description="custom period: last day (inclusive)"),
    ] = None,
    service: Annotated[str | None, Query(max_length=MAX_SERVICE_LENGTH)] = None,
) -> dict[str, Any]:
    return await usage_as(request, key, customer_id, period, start, end, service)


async def usage_as(
    request: Request,
    key: ApiKey,
    customer_id: str | None,
    period: str,
    start: date | None,
    end: date | None,
    service: str | None,
) -> dict[str, Any]:
    """The endpoint once the caller is authenticated and the parameters are checked (also
    reached from ``http.fastpath``)."""
    customer = customer_for(key, customer_id)
    reports = get_billing(request).usage_reports
    report = await in_thread(
        request,
        lambda: reports.summary(customer, period=period, start=start, end=end, service=service),
    )
    return report_http_record(report)


@invoices_router.get("/v1/invoices", summary="Invoices of the caller's customer, newest first")
async def get_invoices(
    request: Request,
    key: CallerKey,
    customer_id: CustomerParam = None,
    limit: Annotated[int, Query(ge=1, le=MAX_INVOICES)] = DEFAULT_INVOICES,
) -> dict[str, Any]:
    return await invoices_as(request, key, customer_id, limit)


async def invoices_as(
    request: Request, key: ApiKey, customer_id: str | None, limit: int
) -> dict[str, Any]:
    """The endpoint once the caller is authenticated and the parameters are checked (also
    reached from ``http.fastpath``)."""
    customer = customer_for(key, customer_id)
    invoices = get_billing(request).invoices
    found = await in_thread(request, lambda: invoices.list(customer, limit=limit))
    return {"customer_id": customer, "invoices": [invoice_http_record(i) for i in found]}
