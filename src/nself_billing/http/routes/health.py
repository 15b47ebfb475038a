"""``GET /healthz``: the process answers and the database is reachable at the right schema."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..auth import get_billing
from ..threads import in_thread

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    summary="Liveness and database check",
    responses={503: {"description": "The database is unreachable or not migrated"}},
)
async def healthz(request: Request) -> JSONResponse:
    check = await in_thread(request, get_billing(request).diagnostics.test_db_connection)
    body = {"status": "ok" if check.ok else "unavailable", "database": check.detail}
    return JSONResponse(body, status_code=200 if check.ok else 503)
