"""Bearer API keys: who is calling, and which customer a request may touch."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from ..billing import Billing
from ..services.apikeys import ApiKey, AuthenticationFailed
from .errors import Forbidden

_bearer = HTTPBearer(auto_error=False, description="An API key from `apikey create`.")


def get_billing(request: Request) -> Billing:
    billing: Billing = request.app.state.billing
    return billing


async def current_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationFailed()
    billing = get_billing(request)
    return await run_in_threadpool(billing.apikeys.authenticate, credentials.credentials)


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
