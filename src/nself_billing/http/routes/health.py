"""``GET /healthz`` (liveness: the process answers; sent by ``http.app.BillingApp`` before
FastAPI's layers, without a database round trip: this route documents it in the OpenAPI
schema) and ``GET /readyz`` (readiness: the database is reachable at the right schema).
Neither shows where the database is, except ``/readyz`` to an admin key."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ...errors import BillingError
from ..auth import caller_key, get_billing
from ..errors import RETRY_AFTER_SECONDS
from ..threads import in_thread

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers (reads nothing)")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


@router.get(
    "/readyz",
    summary="Readiness: the database is reachable and migrated",
    description="With an admin key (`Authorization: Bearer`), the answer also says what was "
    "checked (`database`); without one it shows no detail of the database.",
    responses={503: {"description": "The database is unreachable or not migrated"}},
)
async def readyz(request: Request) -> JSONResponse:
    check = await in_thread(request, get_billing(request).diagnostics.test_db_connection)
    body = {"status": "ready" if check.ok else "unavailable"}
    if await _is_admin(request):
        body["database"] = check.detail
    headers = {"Cache-Control": "no-store"}
    if not check.ok:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return JSONResponse(body, status_code=200 if check.ok else 503, headers=headers)


async def _is_admin(request: Request) -> bool:
    """Whether the request carries a live admin key (no key, or any failure, is no)."""
    if "authorization" not in request.headers:
        return False
    try:
        return (await caller_key(request)).is_admin
    except BillingError:
        return False
