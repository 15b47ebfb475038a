"""``GET /portal?token=...``: the customer portal page, and its invoice PDF downloads. The
signed, expiring token (services/portal.py) is the only credential: it names one customer."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from ...billing import Billing
from ...domain.periods import days_label
from ...domain.services import unit_of
from .. import portal
from ..auth import get_billing
from ..threads import in_thread

router = APIRouter(tags=["portal"])

TokenParam = Annotated[
    str,
    Query(
        min_length=1, max_length=2048, description="The signed link token from `customer portal`."
    ),
]
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'",
}


def _price(plan: Any, interval: str) -> str | None:
    price = plan.price_yearly if interval == "year" else plan.price_monthly
    if price is None:
        return "custom price"
    return f"${price:,.2f} / {interval}"


def build_page(billing: Billing, customer_id: str, token: str) -> portal.PortalPage:
    customer = billing.customers.get(customer_id)
    page = portal.PortalPage(
        customer_id=customer.customer_id,
        customer_name=customer.name or customer.customer_id,
        email=customer.email or "",
        generated_at=billing.context.clock(),
    )
    subscription = billing.subscriptions.find_current(customer_id)
    if subscription is not None:
        plan = billing.plans.get(subscription.plan_name)
        page.plan = subscription.plan_name
        page.plan_price = _price(plan, subscription.interval)
        page.status = subscription.status
        page.period_start = subscription.period.start.date()
        page.period_end = subscription.period.end.date()
        page.cancel_at_period_end = subscription.cancel_at_period_end
        page.scheduled_plan = subscription.scheduled_plan_name
        for line in billing.quotas.statuses(customer_id=customer_id):
            page.quotas.append(
                portal.QuotaLine(
                    service=line.service,
                    unit=unit_of(line.service),
                    used=line.usage or Decimal(0),
                    limit=line.quota.limit,
                    percent=line.percent,
                    band=line.band.value,
                    icon=line.band.icon,
                    mode=line.quota.mode.value,
                )
            )
    report = billing.usage.summary(customer_id=customer_id, detailed=True)
    per_day: dict[str, dict[date, Decimal]] = defaultdict(dict)
    for day in report.daily:
        per_day[day.service][day.day] = day.quantity
    for row in report.services:
        chart = portal.day_chart(
            report.period.first_day, report.period.end_day, per_day.get(row.service, {})
        )
        page.usage.append(portal.UsageLine(row.service, row.unit, row.quantity, row.events, chart))
    for invoice in billing.invoices.list(customer_id, limit=24):
        period = ""
        if invoice.period_start and invoice.period_end:
            period = days_label(invoice.period_start, invoice.period_end)
        page.invoices.append(
            portal.InvoiceLine(
                invoice_id=invoice.invoice_id,
                number=invoice.invoice_id,
                created=invoice.created_at,
                period=period,
                amount=invoice.total,
                currency=invoice.currency,
                status=invoice.status,
                pdf_url=f"/portal/invoices/{quote(invoice.invoice_id, safe='')}.pdf"
                f"?token={quote(token, safe='')}",
            )
        )
    return page


@router.get(
    "/portal",
    response_class=HTMLResponse,
    summary="Customer portal page",
    responses={422: {"description": "Invalid or expired link"}},
)
async def portal_page(request: Request, token: TokenParam) -> HTMLResponse:
    billing = get_billing(request)

    def render() -> str:
        customer_id = billing.portal.verify(token)
        return portal.render(build_page(billing, customer_id, token))

    return HTMLResponse(await in_thread(request, render), headers=_HEADERS)


@router.get(
    "/portal/invoices/{invoice_id}.pdf",
    summary="Invoice PDF from the portal",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}},
        404: {"description": "No such invoice for this customer"},
    },
)
async def portal_invoice_pdf(
    request: Request, token: TokenParam, invoice_id: Annotated[str, Path(max_length=255)]
) -> Response:
    billing = get_billing(request)

    def pdf() -> bytes:
        customer_id = billing.portal.verify(token)
        with tempfile.TemporaryDirectory() as directory:
            path = billing.invoices.download(customer_id, invoice_id, directory=FilePath(directory))
            return path.read_bytes()

    data = await in_thread(request, pdf)
    return Response(
        data,
        media_type="application/pdf",
        headers={**_HEADERS, "Content-Disposition": f'attachment; filename="{invoice_id}.pdf"'},
    )
