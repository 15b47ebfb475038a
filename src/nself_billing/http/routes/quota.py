"""The quota API: status of the caller's quotas, and atomic consume (429 when blocked)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from ...domain.humanize import plain_number
from ...domain.services import SERVICE_NAMES
from ...domain.usage import check_idempotency_key
from ...errors import InvalidInput, QuotaExceeded
from ...render.quotas import quota_http_record
from ...services.apikeys import ApiKey
from ...services.ingest import MAX_ID_LENGTH
from ...services.quotas import ConsumeRequest
from ..auth import CallerKey, customer_for, get_billing
from ..body import parse_json, read_limited
from ..consume_group import ConsumeGroups
from ..metrics import CONSUMES, CUSTOMER_KEY
from ..threads import in_thread
from .account import CustomerParam

router = APIRouter(tags=["quota"])

MAX_SERVICE_LENGTH = 50
ServiceParam = Annotated[
    str, Path(max_length=MAX_SERVICE_LENGTH, description=", ".join(SERVICE_NAMES))
]
MAX_CONSUME_BODY = 64 * 1024

_CONSUME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "quantity": {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"},
            ],
            "description": "Default 1.",
        },
        "id": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_ID_LENGTH,
            "description": "Idempotency key, per customer: a replay (same service and "
            "quantity) is admitted again, not counted twice; the same id with another "
            "service or quantity answers 409.",
        },
        "metadata": {"type": "object"},
        "customer_id": {"type": "string", "description": "Admin keys only."},
    },
}


def _number(value: Decimal | None) -> str | None:
    return None if value is None else plain_number(value)


@router.get("/v1/quota", summary="Every quota of the caller's customer, with usage")
async def get_quotas(
    request: Request, key: CallerKey, customer_id: CustomerParam = None
) -> dict[str, Any]:
    return await quotas_as(request, key, customer_id)


@router.get(
    "/v1/quota/{service}",
    summary="One quota of the caller's customer",
    responses={422: {"description": "Unknown service"}},
)
async def get_quota(
    request: Request, key: CallerKey, service: ServiceParam, customer_id: CustomerParam = None
) -> dict[str, Any]:
    return await quota_as(request, key, service, customer_id)


# The GET endpoints once the caller is authenticated and the parameters are checked (also
# reached from ``http.fastpath``). They read as ``enforce`` and ``consume`` decide: limits
# cached for a second, usage in one statement of the quota hot path.


async def quotas_as(request: Request, key: ApiKey, customer_id: str | None) -> dict[str, Any]:
    customer = customer_for(key, customer_id)
    quotas = get_billing(request).quotas
    lines = await in_thread(request, lambda: quotas.statuses(customer_id=customer, fresh=False))
    return {"customer_id": customer, "quotas": [quota_http_record(line) for line in lines]}


async def quota_as(
    request: Request, key: ApiKey, service: str, customer_id: str | None
) -> dict[str, Any]:
    customer = customer_for(key, customer_id)
    quotas = get_billing(request).quotas
    line = await in_thread(
        request, lambda: quotas.status(service, customer_id=customer, fresh=False)
    )
    return {"customer_id": customer, **quota_http_record(line)}


@router.post(
    "/v1/quota/{service}/consume",
    summary="Check and record usage atomically",
    description="Admits and records `quantity` unless a hard limit would be passed, whatever "
    "the number of concurrent callers; a blocked request records nothing and "
    'answers 429 `{"error":"API quota exceeded","code":"QUOTA_EXCEEDED","service":"api"}` '
    "(the service blocked: `Storage quota exceeded` and `storage` for storage).",
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": _CONSUME_SCHEMA}},
        }
    },
    responses={
        429: {"description": "Hard limit reached; nothing recorded"},
        409: {"description": "The id was used before for another service or quantity"},
        422: {"description": "Unknown service or invalid quantity"},
    },
)
async def consume(request: Request, key: CallerKey, service: ServiceParam) -> JSONResponse:
    return await consume_as(request, key, service)


async def consume_as(request: Request, key: ApiKey, service: str) -> JSONResponse:
    """The consume endpoint once the caller is authenticated (also reached from
    ``http.fastpath``, which skips FastAPI's routing and dependency resolution)."""
    raw = await read_limited(request, MAX_CONSUME_BODY)
    body = parse_json(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        raise InvalidInput("Expected a JSON object")
    unknown = sorted(set(body) - {"quantity", "id", "metadata", "customer_id"})
    if unknown:
        raise InvalidInput(f"Unknown field: {unknown[0]}")
    requested = body.get("customer_id")
    if requested is not None and not isinstance(requested, str):
        raise InvalidInput("customer_id must be a string")
    customer = customer_for(key, requested)
    request.scope[CUSTOMER_KEY] = customer
    event_id = body.get("id")
    if event_id is not None:
        event_id = check_idempotency_key(event_id, maximum=MAX_ID_LENGTH)
    groups: ConsumeGroups = request.app.state.consume_groups
    result = await groups.consume(
        ConsumeRequest(service, body.get("quantity", 1), body.get("metadata"), event_id, customer)
    )
    if not result.admitted:
        CONSUMES.labels(service, "blocked").inc()
        raise QuotaExceeded(service)
    CONSUMES.labels(service, "admitted").inc()
    return JSONResponse(
        {
            "admitted": True,
            "recorded": result.recorded,
            "replayed": result.replayed,
            "usage": _number(result.usage),
            "quota": _number(result.limit),
        }
    )
