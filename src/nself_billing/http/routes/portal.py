"""The customer portal: ``GET /portal?token=...`` (the page), its invoice PDF downloads, and
``POST /portal/actions/{action}`` (the page's forms: change plan, cancel, reactivate, payment
methods). The signed, expiring link token (services/portal_links.py) is the only credential:
it names one customer, and every action acts on that customer alone, through the same services
as the CLI; the page itself is rendered by http/portal_view.py. Forms carry a CSRF token bound
to a cookie of the page (signed double-submit)."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...billing import Billing
from ...domain.payments import BRANDS
from ...domain.periods import days_label
from ...domain.services import unit_of
from ...errors import BillingError, Forbidden, InvalidInput
from ...services.portal_links import new_csrf_nonce
from .. import portal_view
from ..auth import get_billing
from ..body import read_limited
from ..errors import status_of
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
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'",
}
CSRF_COOKIE = "nself_portal_csrf"
FORM_LIMIT = 4096

#: what the page says after an action (the redirect names one of these, never free text)
NOTICES = {
    "upgraded": "Your plan was upgraded. The price difference for the rest of this period is "
    "invoiced now.",
    "downgraded": "Your plan will change at the end of the current period.",
    "canceled": "Your subscription will end at the end of the current period. You can "
    "reactivate it until then.",
    "reactivated": "Your subscription will continue.",
    "method-added": "Payment method added.",
    "method-default": "Default payment method changed.",
    "method-removed": "Payment method removed.",
}


class PortalAction(StrEnum):
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"
    CANCEL = "cancel"
    REACTIVATE = "reactivate"
    ADD_PAYMENT_METHOD = "add-payment-method"
    DEFAULT_PAYMENT_METHOD = "default-payment-method"
    REMOVE_PAYMENT_METHOD = "remove-payment-method"


def _price(plan: Any, interval: str) -> str:
    price = plan.price_yearly if interval == "year" else plan.price_monthly
    if price is None:
        return "custom price"
    return f"${price:,.2f} / {interval}"


def build_page(
    billing: Billing,
    customer_id: str,
    token: str,
    *,
    csrf: str = "",
    notice: str | None = None,
    error: str | None = None,
) -> portal_view.PortalPage:
    customer = billing.customers.get(customer_id)
    local = billing.portal.hosted_here
    page = portal_view.PortalPage(
        customer_id=customer.customer_id,
        customer_name=customer.name or customer.customer_id,
        email=customer.email or "",
        generated_at=billing.clock(),
        token=token,
        csrf=csrf,
        actions=local,
        card_brands=BRANDS,
        notice=notice,
        error=error,
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
        for other in billing.plans.list():
            if other.name == plan.name or other.is_custom:
                continue  # a custom price is agreed with the operator, not chosen here
            page.plan_options.append(
                portal_view.PlanOption(
                    name=other.name,
                    title=other.display_name,
                    price=_price(other, subscription.interval),
                    direction="upgrade" if other.rank > plan.rank else "downgrade",
                )
            )
        for line in billing.quotas.statuses(customer_id=customer_id):
            page.quotas.append(
                portal_view.QuotaLine(
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
        chart = portal_view.day_chart(
            report.period.first_day, report.period.end_day, per_day.get(row.service, {})
        )
        page.usage.append(
            portal_view.UsageLine(row.service, row.unit, row.quantity, row.events, chart)
        )
    for invoice in billing.invoices.list(customer_id, limit=24):
        period = ""
        if invoice.period_start and invoice.period_end:
            period = days_label(invoice.period_start, invoice.period_end)
        page.invoices.append(
            portal_view.InvoiceLine(
                invoice_id=invoice.invoice_id,
                number=invoice.number or invoice.invoice_id,
                created=invoice.created_at,
                period=period,
                amount=invoice.total,
                currency=invoice.currency,
                status=invoice.status,
                pdf_url=f"/portal/invoices/{quote(invoice.invoice_id, safe='')}.pdf"
                f"?token={quote(token, safe='')}",
                due=invoice.due_at.date() if invoice.due_at else None,
            )
        )
    if local:
        page.methods = [
            portal_view.MethodLine(m.payment_method_id, m.label, m.is_default)
            for m in billing.payment_methods.list(customer_id)
        ]
    return page


def _secure(billing: Billing, request: Request) -> bool:
    base = billing.settings.base_url or ""
    return request.url.scheme == "https" or base.startswith("https://")


@router.get(
    "/portal",
    response_class=HTMLResponse,
    summary="Customer portal page",
    responses={422: {"description": "Invalid or expired link"}},
)
async def portal_page(
    request: Request,
    token: TokenParam,
    done: Annotated[
        str | None, Query(max_length=40, description="The action just completed.")
    ] = None,
) -> HTMLResponse:
    billing = get_billing(request)
    nonce = request.cookies.get(CSRF_COOKIE)
    fresh = not nonce or len(nonce) > 128
    if fresh:
        nonce = new_csrf_nonce()
    assert nonce is not None

    def render() -> str:
        customer_id = billing.portal.verify(token)
        csrf = billing.portal.csrf_token(nonce, customer_id)
        page = build_page(billing, customer_id, token, csrf=csrf, notice=NOTICES.get(done or ""))
        return portal_view.render(page)

    response = HTMLResponse(await in_thread(request, render), headers=_HEADERS)
    if fresh:
        response.set_cookie(
            CSRF_COOKIE,
            nonce,
            path="/portal",
            httponly=True,
            samesite="lax",
            secure=_secure(billing, request),
        )
    return response


def _form(body: bytes) -> dict[str, str]:
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("Invalid form") from None
    return {name: values[0] for name, values in fields.items()}


def _act(billing: Billing, action: PortalAction, customer_id: str, form: dict[str, str]) -> str:
    """Run one action with the CLI's own use cases; returns its notice code."""
    subscriptions, methods = billing.subscriptions, billing.payment_methods
    plan = form.get("plan", "")
    method = form.get("payment_method_id", "")
    steps: dict[PortalAction, Callable[[], object]] = {
        PortalAction.UPGRADE: lambda: subscriptions.upgrade(customer_id, plan),
        PortalAction.DOWNGRADE: lambda: subscriptions.downgrade(customer_id, plan),
        PortalAction.CANCEL: lambda: subscriptions.cancel(customer_id),
        PortalAction.REACTIVATE: lambda: subscriptions.reactivate(customer_id),
        PortalAction.ADD_PAYMENT_METHOD: lambda: methods.add(
            customer_id,
            brand=form.get("brand") or None,
            last4=form.get("last4") or None,
            expiry=form.get("expiry") or None,
            make_default=form.get("make_default") == "on",
        ),
        PortalAction.DEFAULT_PAYMENT_METHOD: lambda: methods.set_default(customer_id, method),
        PortalAction.REMOVE_PAYMENT_METHOD: lambda: methods.remove(customer_id, method),
    }
    if action in (PortalAction.UPGRADE, PortalAction.DOWNGRADE) and not plan:
        raise InvalidInput("Choose a plan")
    steps[action]()
    return {
        PortalAction.UPGRADE: "upgraded",
        PortalAction.DOWNGRADE: "downgraded",
        PortalAction.CANCEL: "canceled",
        PortalAction.REACTIVATE: "reactivated",
        PortalAction.ADD_PAYMENT_METHOD: "method-added",
        PortalAction.DEFAULT_PAYMENT_METHOD: "method-default",
        PortalAction.REMOVE_PAYMENT_METHOD: "method-removed",
    }[action]


_FORM_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["token", "csrf", "customer_id"],
                    "properties": {
                        "token": {"type": "string", "description": "The signed link token."},
                        "csrf": {"type": "string", "description": "The page's CSRF token."},
                        "customer_id": {
                            "type": "string",
                            "description": "Must be the link's customer.",
                        },
                        "plan": {"type": "string", "description": "upgrade, downgrade"},
                        "payment_method_id": {"type": "string"},
                        "brand": {"type": "string", "enum": list(BRANDS)},
                        "last4": {"type": "string", "pattern": "^[0-9]{4}$"},
                        "expiry": {"type": "string", "description": "MM/YYYY"},
                        "make_default": {"type": "string", "enum": ["on"]},
                    },
                }
            }
        },
    }
}


@router.post(
    "/portal/actions/{action}",
    response_class=HTMLResponse,
    status_code=303,
    summary="An action of the customer portal's forms (local provider)",
    openapi_extra=_FORM_SCHEMA,
    responses={
        303: {"description": "Done: back to the portal page, which says what changed"},
        403: {"description": "Missing or invalid CSRF token, or another customer's id"},
        409: {"description": "Not possible now (the page is shown again with the reason)"},
        422: {"description": "Invalid or expired link, or invalid input (the page says why)"},
    },
)
async def portal_action(request: Request, action: PortalAction) -> Response:
    billing = get_billing(request)
    form = _form(await read_limited(request, FORM_LIMIT))
    token = form.get("token", "")
    nonce = request.cookies.get(CSRF_COOKIE)

    def act() -> tuple[int, str]:
        if not token or len(token) > 2048:
            raise InvalidInput("Invalid portal token")
        customer_id = billing.portal.verify(token)
        if form.get("customer_id") != customer_id:
            raise Forbidden("This link may not act for another customer")
        if not billing.portal.csrf_valid(nonce, customer_id, form.get("csrf")):
            raise Forbidden("Invalid or missing CSRF token (reload the portal page)")
        if not billing.portal.hosted_here:
            raise Forbidden(f"With the {billing.provider_name} provider, use its own portal")
        try:
            return 303, _act(billing, action, customer_id, form)
        except BillingError as error:
            assert nonce is not None
            csrf = billing.portal.csrf_token(nonce, customer_id)
            page = build_page(billing, customer_id, token, csrf=csrf, error=error.message)
            return status_of(error)[0], portal_view.render(page)

    status, outcome = await in_thread(request, act)
    if status == 303:
        return RedirectResponse(
            f"/portal?token={quote(token, safe='')}&done={outcome}",
            status_code=303,
            headers=_HEADERS,
        )
    return HTMLResponse(outcome, status_code=status, headers=_HEADERS)


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
