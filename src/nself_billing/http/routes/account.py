"""The read API of the caller's customer: subscription, usage summary, invoices."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ...render.subscriptions import subscription_http_record
from ...services.apikeys import ApiKey
from ..auth import CallerKey, customer_for, get_billing
from ..threads import in_thread

router = APIRouter(tags=["account"])

MAX_CUSTOMER_ID_LENGTH = 255
CustomerParam = Annotated[
    str | None,
    Query(max_length=MAX_CUSTOMER_ID_LENGTH, description="Admin keys only: the customer to read."),
]


@router.get(
    "/v1/subscription",
    summary="The caller's current subscription",
    responses={404: {"description": "No active subscription"}},
)
async def get_subscription(
    request: Request, key: CallerKey, customer_id: CustomerParam = None
) -> dict[str, Any]:
    return await subscription_as(request, key, customer_id)


async def subscription_as(request: Request, key: ApiKey, customer_id: str | None) -> dict[str, Any]:
    """The endpoint once the caller is authenticated (also reached from ``http.fastpath``)."""
    customer = customer_for(key, customer_id)
    billing = get_billing(request)
    subscription = await in_thread(request, billing.subscriptions.current, customer)
    return subscription_http_record(subscription)
