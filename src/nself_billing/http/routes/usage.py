"""``POST /v1/usage``: one event or ``{"events": [...]}``, recorded all-or-nothing."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ...billing import Billing
from ...domain.services import SERVICE_NAMES
from ...errors import InvalidInput
from ...services.apikeys import ApiKey
from ...services.ingest import MAX_BATCH, SMALL_REQUEST_MAX, IngestRequest, IngestResult
from ..auth import CallerKey
from ..body import parse_json, read_limited
from ..consume_group import WriteGroups
from ..metrics import EVENTS_INGESTED
from ..threads import Threads

router = APIRouter(tags=["usage"])

#: 1,000 events with generous metadata
MAX_USAGE_BODY = 4 * 1024 * 1024

_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["service", "quantity"],
    "additionalProperties": False,
    "properties": {
        "service": {"type": "string", "enum": list(SERVICE_NAMES)},
        "quantity": {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"},
            ],
            "description": "In the service's unit: at most 6 decimal places and at most "
            "1,000,000,000 (NaN, Infinity and larger values answer 422).",
        },
        "id": {
            "type": "string",
            "minLength": 1,
            "maxLength": 128,
            "description": "Idempotency key, stored as given: an id seen before for this "
            "customer (through any entry point) is acknowledged and not counted again; "
            "another customer's id is another event. No NUL, no lone surrogate.",
        },
        "timestamp": {
            "type": "string",
            "format": "date-time",
            "description": "When the usage happened (default: now).",
        },
        "metadata": {"type": "object"},
        "customer_id": {
            "type": "string",
            "description": "Required with an admin key; a customer key may only "
            "name its own customer.",
        },
    },
}
_BODY_SCHEMA: dict[str, Any] = {
    "anyOf": [
        _EVENT_SCHEMA,
        {
            "type": "object",
            "required": ["events"],
            "additionalProperties": False,
            "properties": {
                "events": {
                    "type": "array",
                    "items": _EVENT_SCHEMA,
                    "minItems": 1,
                    "maxItems": MAX_BATCH,
                }
            },
        },
    ]
}
_RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "accepted": {"type": "integer", "description": "events in the request"},
        "recorded": {"type": "integer", "description": "events recorded now"},
        "duplicates": {
            "type": "integer",
            "description": "events whose id was recorded before (not counted)",
        },
    },
}


def render_result(result: IngestResult) -> dict[str, Any]:
    return {
        "accepted": result.accepted,
        "recorded": result.recorded,
        "duplicates": result.duplicates,
    }


@router.post(
    "/v1/usage",
    summary="Record usage events",
    description='One event, or up to 1,000 as `{"events": [...]}`. Either every event is '
    "valid and all are recorded in one transaction, or none is (422 with a list "
    "of per-event errors). The answer comes after the commit.",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _BODY_SCHEMA}}}
    },
    responses={
        200: {
            "description": "Recorded (or acknowledged duplicates)",
            "content": {"application/json": {"schema": _RESULT_SCHEMA}},
        },
        401: {"description": "Missing, invalid or revoked API key"},
        413: {"description": "Body too large"},
        422: {"description": "Invalid events; nothing recorded"},
    },
)
async def post_usage(request: Request, key: CallerKey) -> JSONResponse:
    return await record_usage_as(request, key)


async def record_usage_as(request: Request, key: ApiKey) -> JSONResponse:
    """The usage endpoint once the caller is authenticated (FastAPI's route; ``POST /v1/usage``
    is normally answered before FastAPI by ``http.fastpath.UsageEndpoint``, through
    ``record_events`` as here)."""
    body = await read_limited(request, MAX_USAGE_BODY)
    return JSONResponse(render_result(await record_events(request.app.state, key, body)))


def usage_events(body: bytes) -> list[Any]:
    """The events of a request body: one event, or ``{"events": [...]}``."""
    parsed = parse_json(body)
    if isinstance(parsed, dict) and "events" in parsed:
        if set(parsed) != {"events"} or not isinstance(parsed["events"], list):
            raise InvalidInput('Expected {"events": [...]} with a list of events')
        events: list[Any] = parsed["events"]
        return events
    return [parsed]


async def record_events(state: Any, key: ApiKey, body: bytes) -> IngestResult:
    """Record the events of ``body`` for ``key`` (``state``: the app's, with its billing,
    threads and usage groups); the answer once they are durable."""
    events = usage_events(body)
    caller = None if key.is_admin else key.customer_id
    if len(events) <= SMALL_REQUEST_MAX:
        # a few events: grouped with the requests that arrive while a group is being written,
        # one transaction on the single-event path (http/consume_group.py)
        groups: WriteGroups[IngestRequest, IngestResult] = state.usage_groups
        result = await groups.submit(IngestRequest(events, caller))
    else:  # a large batch: on its own, COPY on PostgreSQL
        threads: Threads = state.threads
        billing: Billing = state.billing
        result = await threads.run(billing.ingest.ingest, events, caller_customer_id=caller)
    EVENTS_INGESTED.inc(result.recorded)
    return result
