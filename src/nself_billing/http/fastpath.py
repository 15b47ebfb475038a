"""The endpoints of the request path, answered without FastAPI's routing and dependency
resolution: those called once per API request or per Stripe event (consume, ``POST
/v1/usage``, the webhook receiver), the reads a gateway or a dashboard polls (quota status,
usage summary, subscription, invoices), and the liveness answer ``GET /healthz``.

They stay FastAPI routes (documented in the OpenAPI schema, and serving whatever this layer
declines); for a request that matches one exactly, this ASGI middleware calls the same endpoint
code directly, which takes about half of the server's CPU per request off (routing over every
route, dependency solving, parameter models). A request with anything unusual (an over-long
service name, a repeated or unknown query parameter, a value FastAPI would have to convert)
goes to FastAPI as before, so its answer, 422s included, is FastAPI's. Errors are rendered by
the one mapping of ``http.errors``; anything unexpected propagates to the app's 500 handler like
any route's.

``GET /healthz`` is liveness only (the process answers): it reads nothing, so an orchestrator
polling it costs no database round trip (``answer_liveness``, sent by ``http.app.BillingApp``
before FastAPI's own layers); ``GET /readyz`` checks the database.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import BillingError, PayloadTooLarge
from ..services.apikeys import ApiKey
from ..services.stripe.billing import WEBHOOK_PATH
from .auth import caller_key, key_of
from .body import declared_length
from .errors import error_response, internal_error
from .metrics import ROUTE_KEY
from .routes.account import MAX_CUSTOMER_ID_LENGTH, subscription_as
from .routes.quota import MAX_SERVICE_LENGTH, consume_as, quota_as, quotas_as
from .routes.reports import (
    DEFAULT_INVOICES,
    EARLIEST_DAY,
    LATEST_DAY,
    MAX_INVOICES,
    PERIODS,
    invoices_as,
    usage_as,
)
from .routes.reports import MAX_SERVICE_LENGTH as MAX_USAGE_SERVICE_LENGTH
from .routes.usage import MAX_USAGE_BODY, record_events
from .routes.webhooks import stripe_webhook

_CONSUME_PREFIX, _CONSUME_SUFFIX = "/v1/quota/", "/consume"
_QUOTA_PREFIX = "/v1/quota/"
CONSUME_ROUTE = "/v1/quota/{service}/consume"
QUOTA_ROUTE = "/v1/quota/{service}"
USAGE_ROUTE = "/v1/usage"

_LIVE_BODY = b'{"status":"ok"}'
_LIVE_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_LIVE_BODY)).encode()),
        (b"cache-control", b"no-store"),
    ],
}
_LIVE_END = {"type": "http.response.body", "body": _LIVE_BODY}


def is_usage_post(scope: Scope) -> bool:
    return bool(
        scope["type"] == "http" and scope["path"] == USAGE_ROUTE and scope["method"] == "POST"
    )


def is_liveness(scope: Scope) -> bool:
    return bool(
        scope["type"] == "http" and scope["path"] == "/healthz" and scope["method"] == "GET"
    )


async def answer_liveness(send: Send) -> None:
    """``GET /healthz``: prebuilt bytes, nothing read (``http.app.BillingApp`` sends it before
    any of FastAPI's layers)."""
    await send(_LIVE_START)
    await send(_LIVE_END)


#: a query that FastAPI would read as is (no conversion this layer would have to mirror)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_COUNT = re.compile(r"[0-9]{1,3}")

#: a GET endpoint of the read API, called with the caller's key and its checked parameters
Reader = Callable[[Request, ApiKey, dict[str, Any]], Awaitable[dict[str, Any]]]


class FastPaths:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method: str = scope["method"]
            path: str = scope["path"]
            if method == "GET":
                found = _read_route(path, scope["query_string"])
                if found is not None:
                    reader, params = found
                    scope[ROUTE_KEY] = QUOTA_ROUTE if path.startswith(_QUOTA_PREFIX) else path
                    await self._read(scope, receive, send, reader, params)
                    return
            elif method == "POST":
                if path == WEBHOOK_PATH:
                    scope[ROUTE_KEY] = WEBHOOK_PATH
                    await self._post(scope, receive, send, None)
                    return
                if path.startswith(_CONSUME_PREFIX) and path.endswith(_CONSUME_SUFFIX):
                    service = path[len(_CONSUME_PREFIX) : -len(_CONSUME_SUFFIX)]
                    # anything FastAPI would refuse as a path parameter is left to it
                    if 0 < len(service) <= MAX_SERVICE_LENGTH and "/" not in service:
                        scope[ROUTE_KEY] = CONSUME_ROUTE
                        await self._post(scope, receive, send, service)
                        return
        await self.app(scope, receive, send)

    @staticmethod
    async def _post(scope: Scope, receive: Receive, send: Send, service: str | None) -> None:
        request = Request(scope, receive)
        response: Response
        try:
            if service is None:
                response = await stripe_webhook(request)
            else:
                response = await consume_as(request, await caller_key(request), service)
        except BillingError as error:
            response = error_response(error)
        await response(scope, receive, send)

    @staticmethod
    async def _read(
        scope: Scope, receive: Receive, send: Send, reader: Reader, params: dict[str, Any]
    ) -> None:
        request = Request(scope, receive)
        response: Response
        try:
            response = JSONResponse(await reader(request, await caller_key(request), params))
        except BillingError as error:
            response = error_response(error)
        await response(scope, receive, send)


def _read_route(path: str, query_string: bytes) -> tuple[Reader, dict[str, Any]] | None:
    """The reader of a GET path and its parameters, or None to leave the request to FastAPI."""
    if path.startswith(_QUOTA_PREFIX):
        service = path[len(_QUOTA_PREFIX) :]
        if not 0 < len(service) <= MAX_SERVICE_LENGTH or "/" in service:
            return None
        params = _query(query_string, {"customer_id": _customer})
        return None if params is None else (_quota, {**params, "service": service})
    found = _READS.get(path)
    if found is None:
        return None
    reader, checks = found
    params = _query(query_string, checks)
    return None if params is None else (reader, params)


def _query(query_string: bytes, checks: dict[str, Callable[[str], Any]]) -> dict[str, Any] | None:
    """The query's parameters, each converted by its check; None when one is unknown,
    repeated or refused by its check (FastAPI then answers, with its own errors)."""
    if not query_string:
        return {}
    params: dict[str, Any] = {}
    for name, raw in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        check = checks.get(name)
        if check is None or name in params:
            return None
        value = check(raw)
        if value is None:
            return None
        params[name] = value
    return params


def _customer(raw: str) -> str | None:
    return raw if len(raw) <= MAX_CUSTOMER_ID_LENGTH else None


def _period(raw: str) -> str | None:
    return raw if raw in PERIODS else None


def _day(raw: str) -> date | None:
    if not _DAY.fullmatch(raw):
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None
    return day if EARLIEST_DAY <= day <= LATEST_DAY else None


def _service(raw: str) -> str | None:
    return raw if len(raw) <= MAX_USAGE_SERVICE_LENGTH else None


def _limit(raw: str) -> int | None:
    if not _COUNT.fullmatch(raw):
        return None
    count = int(raw)
    return count if 1 <= count <= MAX_INVOICES else None


async def _quota(request: Request, key: ApiKey, params: dict[str, Any]) -> dict[str, Any]:
    return await quota_as(request, key, params["service"], params.get("customer_id"))


async def _quotas(request: Request, key: ApiKey, params: dict[str, Any]) -> dict[str, Any]:
    return await quotas_as(request, key, params.get("customer_id"))


async def _usage(request: Request, key: ApiKey, params: dict[str, Any]) -> dict[str, Any]:
    return await usage_as(
        request,
        key,
        params.get("customer_id"),
        params.get("period", "current"),
        params.get("start"),
        params.get("end"),
        params.get("service"),
    )


async def _subscription(request: Request, key: ApiKey, params: dict[str, Any]) -> dict[str, Any]:
    return await subscription_as(request, key, params.get("customer_id"))


async def _invoices(request: Request, key: ApiKey, params: dict[str, Any]) -> dict[str, Any]:
    return await invoices_as(
        request, key, params.get("customer_id"), params.get("limit", DEFAULT_INVOICES)
    )


_READS: dict[str, tuple[Reader, dict[str, Callable[[str], Any]]]] = {
    "/v1/quota": (_quotas, {"customer_id": _customer}),
    "/v1/usage": (
        _usage,
        {
            "customer_id": _customer,
            "period": _period,
            "start": _day,
            "end": _day,
            "service": _service,
        },
    ),
    "/v1/subscription": (_subscription, {"customer_id": _customer}),
    "/v1/invoices": (_invoices, {"customer_id": _customer, "limit": _limit}),
}


class UsageEndpoint:
    """``POST /v1/usage``, the endpoint a backend calls once per API call it served, answered
    on the ASGI messages themselves: ``http.app.BillingApp`` sends it here, through the
    request metrics and the deadline, before FastAPI's own layers (its error and telemetry
    middleware, routing, dependency solving, ``Request`` and ``JSONResponse`` objects), which
    cost as much CPU as the rest of the request. Same checks, same code (``record_events``),
    same answers and errors as the route (tests/http/test_http_usage.py runs against both)."""

    def __init__(self, state: Any) -> None:
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[ROUTE_KEY] = USAGE_ROUTE
        state = self._state
        try:
            authorization, length = "", None
            for name, value in scope["headers"]:
                if name == b"authorization":
                    if not authorization:
                        authorization = value.decode("latin-1")
                elif name == b"content-length" and length is None:
                    length = value.decode("latin-1")
            key = await key_of(scope, state.billing.apikeys, state.threads, authorization)
            declared_length(length, MAX_USAGE_BODY)
            result = await record_events(state, key, await _body(receive, MAX_USAGE_BODY))
        except BillingError as error:
            await error_response(error)(scope, receive, send)
            return
        except ClientDisconnect:  # nobody to answer
            return
        except Exception as error:
            await internal_error(state.billing, "POST", USAGE_ROUTE, error)(scope, receive, send)
            return
        body = b'{"accepted":%d,"recorded":%d,"duplicates":%d}' % (
            result.accepted,
            result.recorded,
            result.duplicates,
        )
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", b"%d" % len(body)),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def _body(receive: Receive, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"Request body too large (limit {limit} bytes)")
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
