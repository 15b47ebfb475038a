"""``GET /metrics``: Prometheus text format; an admin key unless BILLING_METRICS_PUBLIC=1."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ...errors import Forbidden
from ..auth import caller_key, get_billing
from ..metrics import CONTENT_TYPE, exposition
from ..threads import in_thread

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    billing = get_billing(request)
    if not billing.settings.metrics_public:
        key = await caller_key(request)
        if not key.is_admin:
            raise Forbidden("Metrics need an admin key (or BILLING_METRICS_PUBLIC=1)")
    body = await in_thread(request, exposition, billing)
    return Response(body, media_type=CONTENT_TYPE)
