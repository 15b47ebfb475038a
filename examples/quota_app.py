"""A WSGI app that enforces the api quota, as the spec's integration example does in bash.

Every request is one ``api`` unit, checked and recorded in one step with ``quota_consume``
semantics (``Billing.quotas.consume``): concurrent requests never pass a hard limit together,
and a client retrying with the same ``Idempotency-Key`` header is not charged twice. Past the
quota the answer is the spec's::

    HTTP/1.1 429 Too Many Requests
    Content-Type: application/json

    {"error":"API quota exceeded","code":"QUOTA_EXCEEDED"}

The tenant is the ``X-Customer-Id`` header, else the configured customer (NSELF_CUSTOMER_ID).
Standard library only (wsgiref); run it with::

    python examples/quota_app.py --port 8000
    curl -i http://127.0.0.1:8000/api/users
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from nself_billing import Billing, BillingError, NotFound

QUOTA_EXCEEDED = {"error": "API quota exceeded", "code": "QUOTA_EXCEEDED"}

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _json(
    start_response: StartResponse,
    status: str,
    body: dict[str, Any],
    headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    payload = json.dumps(body, separators=(",", ":")).encode()
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload))), *headers],
    )
    return [payload]


def create_app(billing: Billing) -> Callable[[dict[str, Any], StartResponse], list[bytes]]:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            result = billing.quotas.consume(
                "api",
                1,
                {"endpoint": path, "method": method},
                idempotency_key=environ.get("HTTP_IDEMPOTENCY_KEY") or None,
                customer_id=environ.get("HTTP_X_CUSTOMER_ID") or None,
            )
        except NotFound as error:
            return _json(start_response, "404 Not Found", {"error": error.message})
        except BillingError as error:
            return _json(start_response, "400 Bad Request", {"error": error.message})
        if not result.admitted:
            return _json(start_response, "429 Too Many Requests", QUOTA_EXCEEDED)
        # the application's own work would happen here
        return _json(start_response, "200 OK", {"ok": True, "endpoint": path, "method": method})

    return app


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(billing: Billing, host: str = "127.0.0.1", port: int = 8000) -> WSGIServer:
    """A threaded server (not started: call ``serve_forever()``); ``port=0`` picks a free one."""
    return make_server(
        host,
        port,
        create_app(billing),
        server_class=ThreadingWSGIServer,
        handler_class=QuietHandler,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="An API enforcing the nself api quota.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    with Billing.from_env() as billing:
        server = serve(billing, args.host, args.port)
        print(f"Serving on http://{args.host}:{server.server_port}")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
