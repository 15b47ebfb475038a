"""Bearer API keys: who is calling, and which customer a request may touch."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import Scope

from ..actor import ACTOR
from ..billing import Billing
from ..errors import AuthenticationFailed, Forbidden
from ..services.apikeys import ApiKey, ApiKeyService
from .metrics import CUSTOMER_KEY
from .threads import Threads

_bearer = HTTPBearer(auto_error=False, description="An API key from `apikey create`.")


def get_billing(request: Request) -> Billing:
    billing: Billing = request.app.state.billing
    return billing


async def caller_key(request: Request) -> ApiKey:
    """The live API key of ``Authorization: Bearer <key>`` (AuthenticationFailed otherwise)."""
    return await key_of(
        request.scope,
        get_billing(request).apikeys,
        request.app.state.threads,
        request.headers.get("authorization", ""),
    )


async def key_of(
    scope: Scope, apikeys: ApiKeyService, threads: Threads, authorization: str
) -> ApiKey:
    """The live API key of the ``Authorization`` header's value (``Bearer <key>``) of the
    request of ``scope``; AuthenticationFailed otherwise."""
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret:
        raise AuthenticationFailed()
    # a key verified within the last second needs no thread (and no database read)
    key = apikeys.authenticated(secret)
    if key is None:
        key = await threads.run(apikeys.authenticate, secret)
    scope[CUSTOMER_KEY] = key.customer_id
    ACTOR.set(f"api_key:{key.key_id}")  # this request's task: its audit lines name the key
    return key


async def current_key(
    request: Request,
    # declares the bearer scheme in the OpenAPI schema; caller_key reads the header itself
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    return await caller_key(request)


CallerKey = Annotated[ApiKey, Depends(current_key)]


def customer_for(key: ApiKey, requested: str | None) -> str:
    """The customer a request acts on: a tenant key's own customer (asking for another one is
    forbidden), or the customer an admin key names."""
    if key.is_admin:
        if not requested:
            raise Forbidden("An admin key must name the customer (customer_id)")
        return requested
    assert key.customer_id is not None
    if requested and requested != key.customer_id:
        raise Forbidden("This API key may not access another customer")
    return key.customer_id
