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

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import BillingError
from ..services.apikeys import ApiKey
from ..services.stripe.billing import WEBHOOK_PATH
from .auth import caller_key
from .errors import error_response
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
from .routes.usage import record_usage_as
from .routes.webhooks import stripe_webhook

_CONSUME_PREFIX, _CONSUME_SUFFIX = "/v1/quota/", "/consume"
_QUOTA_PREFIX = "/v1/quota/"
CONSUME_ROUTE = "/v1/quota/{service}/consume"
QUOTA_ROUTE = "/v1/quota/{service}"
USAGE_ROUTE = "/v1/usage"
#: the ``service`` of ``FastPaths._post`` that names ``POST /v1/usage`` (no service has it)
_USAGE = "\0usage"

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
                if path == USAGE_ROUTE:
                    scope[ROUTE_KEY] = USAGE_ROUTE
                    await self._post(scope, receive, send, _USAGE)
                    return
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
            elif service == _USAGE:
                response = await record_usage_as(request, await caller_key(request))
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
