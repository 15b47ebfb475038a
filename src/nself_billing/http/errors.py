"""The one place a failure becomes an HTTP answer: ``{"error": <one line>, "code": <CODE>}``,
with the status and code each class of the error tree carries (``status_code``,
``error_code``: see errors.py, e.g. NotFound 404, Conflict 409, QuotaExceeded 429,
ProviderError 502, DatabaseError 503; any other BillingError 400).

A 503 of the database or of the request deadline carries ``Retry-After`` and never the
database's message (which may name its host, port and database): that goes to the billing
log; an admin sees the database's state on ``GET /readyz``. (431, request headers too large,
is answered by the HTTP protocol itself: ``http.server``.)
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    BillingError,
    DatabaseError,
    DeadlineExceeded,
    InvalidEvents,
    QuotaExceeded,
)

#: what a 503 asks the client to wait before retrying (seconds)
RETRY_AFTER_SECONDS = 1
_DATABASE_UNAVAILABLE = "Database unavailable; retry later"
_log = logging.getLogger("nself_billing")


def quota_exceeded_body(service: str) -> dict[str, str]:
    """``{"error": "API quota exceeded", "code": "QUOTA_EXCEEDED", "service": "api"}``."""
    label = "API" if service == "api" else service.capitalize()
    return {"error": f"{label} quota exceeded", "code": "QUOTA_EXCEEDED", "service": service}


def status_of(error: BillingError) -> tuple[int, str]:
    """The error's own HTTP answer (class attributes of the tree in errors.py)."""
    return error.status_code, error.error_code


def error_response(error: BillingError) -> JSONResponse:
    status, code = status_of(error)
    body: dict[str, Any] = {"error": error.message, "code": code}
    if isinstance(error, QuotaExceeded):
        # the spec's body for a blocked request (exactly, for its api example), naming the
        # service over its limit
        body = quota_exceeded_body(error.service)
    if isinstance(error, InvalidEvents):
        body["errors"] = error.errors
    headers: dict[str, str] | None = None
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(error, DatabaseError | DeadlineExceeded):
        if isinstance(error, DatabaseError):
            _log.warning("answered 503: %s", error.message)
            body["error"] = _DATABASE_UNAVAILABLE
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return JSONResponse(body, status_code=status, headers=headers)


async def _billing_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, BillingError)
    return error_response(error)


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        {
            "field": ".".join(str(p) for p in item.get("loc", ())),
            "message": str(item.get("msg", "invalid")),
        }
        for item in error.errors()
    ]
    return JSONResponse(
        {"error": "Invalid request", "code": "INVALID_INPUT", "errors": errors}, status_code=422
    )


async def _http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(error.status_code, "HTTP_ERROR")
    return JSONResponse(
        {"error": str(error.detail), "code": code},
        status_code=error.status_code,
        headers=error.headers,
    )


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    return internal_error(
        getattr(request.app.state, "billing", None), request.method, request.url.path, error
    )


def internal_error(billing: Any, method: str, path: str, error: Exception) -> JSONResponse:
    """The last line of defence: a bug answers a JSON 500 (logged with its traceback to the
    billing log), never a traceback to the caller."""
    if billing is not None:
        billing.log.error("unhandled error on %s %s", method, path, exc_info=error)
    return JSONResponse({"error": "Internal error", "code": "INTERNAL"}, status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(BillingError, _billing_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
