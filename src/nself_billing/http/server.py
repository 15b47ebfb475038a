"""How ``serve`` runs the app on uvicorn: httptools with a bound on request headers.

uvicorn's httptools protocol buffers a request's head (request line and headers) without a
limit until it is complete: a client could send a 64 MiB header and have it parsed and
answered, and a few such requests grew a worker by hundreds of megabytes. ``BoundedHeaders``
counts the head's bytes as they arrive and, past ``BILLING_HTTP_MAX_HEADER_BYTES`` (carried in
uvicorn's ``h11_max_incomplete_event_size``, the same bound for its h11 protocol), answers
431 at once, then reads and discards what the client still sends for a moment, so that the
client reads the answer (closing a socket with unread data would reset it), and closes.

With several workers (``serve_workers``) each worker listens on a socket of its own, bound
with ``SO_REUSEPORT`` to the same address, so the kernel spreads new connections over the
workers. uvicorn's default, one listening socket shared by every worker, lets whichever worker
wakes first accept everything that is waiting: under wrk's 16 keep-alive connections one worker
took 10 to 16 of them (measured with ``ss``) and did nearly all the work while the other idled.
"""

from __future__ import annotations

import asyncio
import json
import socket
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


class OneWriteResponses:
    """A connection's transport as uvicorn's response cycle sees it: a response's head (its
    status line and headers, which uvicorn writes on ``http.response.start``) is held until the
    next write, its body, and both go to the socket in one ``write``: one system call per
    response instead of two (on loopback a write costs about as much as the rest of a small
    request's Python; the two writes were a quarter of a worker's busy time under one-event
    ``POST /v1/usage`` load). A head whose body does not follow in the same step of the event
    loop (a streamed response) is written on the loop's next turn; a close writes what is held
    first. Anything else is the transport's own."""

    __slots__ = ("_head", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head + data)
        elif data[:5] == b"HTTP/":
            self._head = data
            self._loop.call_soon(self._flush)
        else:
            self._transport.write(data)

    def _flush(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            if not self._transport.is_closing():
                self._transport.write(head)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class BoundedHeaders(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering 431 to a request head over the limit, and
    writing each response in one system call (``OneWriteResponses``)."""

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

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._responses = OneWriteResponses(transport, self.loop)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes, self._tail = False, 0, b""
        super().on_headers_complete()
        if self.cycle is not None:  # the cycle just made (its task has not run yet)
            self.cycle.transport = self._responses  # type: ignore[assignment]

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


def reuseport_listener(host: str, port: int, backlog: int) -> socket.socket:
    """A listening socket on ``host:port`` that other sockets of this user may share
    (``SO_REUSEPORT``: the kernel hands each new connection to one of them)."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


class WorkerListener:
    """Stands for a worker's listening socket in the supervisor: uvicorn hands its sockets to
    each worker process by pickling them, and this one unpickles, in the worker, as a new
    ``reuseport_listener`` of that worker's own."""

    def __init__(self, host: str, port: int, backlog: int) -> None:
        self.address = (host, port, backlog)

    def __reduce__(self) -> tuple[Any, tuple[str, int, int]]:
        return (reuseport_listener, self.address)


def reuseport_supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def serve_workers(app: str, *, host: str, port: int, workers: int, **options: Any) -> None:
    """Run the app factory ``app`` (an import string) in ``workers`` uvicorn worker processes
    under uvicorn's supervisor (restarts, signals), each on a ``SO_REUSEPORT`` socket of its
    own; where the platform lacks ``SO_REUSEPORT``, uvicorn's one shared socket."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if not reuseport_supported():  # pragma: no cover - Linux and the BSDs have it
        uvicorn.run(app, factory=True, host=host, port=port, workers=workers, **options)
        return
    config = uvicorn.Config(app, factory=True, host=host, port=port, workers=workers, **options)
    listener: Any = WorkerListener(host, port, config.backlog)
    try:
        Multiprocess(config, sockets=[listener]).run()
    except KeyboardInterrupt:  # pragma: no cover - as uvicorn.run
        pass
