"""The two endpoints that are called once per API request or per Stripe event, answered
without FastAPI's routing and dependency resolution.

``POST /v1/quota/{service}/consume`` and ``POST /api/webhooks/stripe`` stay FastAPI routes
(documented in the OpenAPI schema, and serving whatever this layer declines); for a request
that matches them exactly, this ASGI middleware calls the same endpoint code directly, which
takes about half of the server's CPU per request off (routing over every route, dependency
solving). Errors are rendered by the one mapping of ``http.errors``; anything unexpected
propagates to the app's 500 handler like any route's.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import BillingError
from ..services.stripe_billing import WEBHOOK_PATH
from .auth import caller_key
from .errors import error_response
from .metrics import ROUTE_KEY
from .routes.quota import MAX_SERVICE_LENGTH, consume_as
from .routes.webhooks import stripe_webhook

_CONSUME_PREFIX, _CONSUME_SUFFIX = "/v1/quota/", "/consume"
CONSUME_ROUTE = "/v1/quota/{service}/consume"


class FastPaths:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            if path == WEBHOOK_PATH:
                scope[ROUTE_KEY] = WEBHOOK_PATH
                await self._answer(scope, receive, send, None)
                return
            if path.startswith(_CONSUME_PREFIX) and path.endswith(_CONSUME_SUFFIX):
                service = path[len(_CONSUME_PREFIX) : -len(_CONSUME_SUFFIX)]
                # anything FastAPI would refuse as a path parameter is left to it
                if 0 < len(service) <= MAX_SERVICE_LENGTH and "/" not in service:
                    scope[ROUTE_KEY] = CONSUME_ROUTE
                    await self._answer(scope, receive, send, service)
                    return
        await self.app(scope, receive, send)

    @staticmethod
    async def _answer(scope: Scope, receive: Receive, send: Send, service: str | None) -> None:
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
