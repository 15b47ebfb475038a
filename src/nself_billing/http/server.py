"""How ``serve`` runs the app on uvicorn: httptools with a bound on request headers.

uvicorn's httptools protocol buffers a request's head (request line and headers) without a
limit until it is complete: a client could send a 64 MiB header and have it parsed and
answered, and a few such requests grew a worker by hundreds of megabytes. ``BoundedHeaders``
counts the head's bytes as they arrive and, past ``BILLING_HTTP_MAX_HEADER_BYTES`` (carried in
uvicorn's ``h11_max_incomplete_event_size``, the same bound for its h11 protocol), answers
431 at once, then reads and discards what the client still sends for a moment, so that the
client reads the answer (closing a socket with unread data would reset it), and closes.
"""

from __future__ import annotations

import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: the default bound on a request's head, bytes (Node's; nginx's is 8 KiB per header line)
MAX_HEADER_BYTES = 16 * 1024
#: how long a refused connection is drained before it is closed (seconds)
_LINGER_SECONDS = 1.0
_END_OF_HEAD = b"\r\n\r\n"


def _too_large(limit: int) -> bytes:
    body = json.dumps(
        {
            "error": f"Request header fields too large (limit {limit} bytes)",
            "code": "HEADERS_TOO_LARGE",
        },
        separators=(",", ":"),
    ).encode()
    head = (
        "HTTP/1.1 431 Request Header Fields Too Large\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


class BoundedHeaders(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering 431 to a request head over the limit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_limit: int = self.config.h11_max_incomplete_event_size or MAX_HEADER_BYTES
        self._in_head = True
        self._head_bytes = 0
        self._tail = b""
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:  # draining before the close: the bytes are dropped, not kept
            return
        if self._in_head:
            window = self._tail + data
            end = window.find(_END_OF_HEAD)
            size = self._head_bytes + (len(data) if end < 0 else end + 4 - len(self._tail))
            if size > self._head_limit:
                self._refuse()
                return
            if end < 0:
                self._head_bytes = size
                self._tail = window[-3:]
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes, self._tail = False, 0, b""
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        super().on_message_complete()

    def _refuse(self) -> None:
        self._refused = True
        self.logger.warning("Request headers over %d bytes: answered 431", self._head_limit)
        transport = self.transport
        transport.write(_too_large(self._head_limit))
        if transport.can_write_eof():
            transport.write_eof()
        self.loop.call_later(_LINGER_SECONDS, transport.close)


def uvicorn_options(max_header_bytes: int) -> dict[str, Any]:
    """The uvicorn settings of ``serve`` (for ``uvicorn.run`` or ``uvicorn.Config``)."""
    return {
        "http": BoundedHeaders,
        "h11_max_incomplete_event_size": max_header_bytes,
        "access_log": False,
        "server_header": False,
    }
