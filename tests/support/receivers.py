"""Real servers on loopback for the notification tests: an HTTP receiver that verifies each
delivery's signature the way docs/NOTIFICATIONS.md tells an operator to, and an SMTP server
(aiosmtpd) that keeps what it receives."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def verify_signature(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """An independent verifier (not the library's): Stripe's scheme."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts["v1"])


@dataclass
class Receiver:
    """Answers with the statuses in ``script`` (then 200); ``"hang"`` never answers."""

    script: list[Any] = field(default_factory=list)
    secret: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    #: event ids of the requests left unanswered
    hung: list[str] = field(default_factory=list)
    url: str = ""
    release: threading.Event = field(default_factory=threading.Event)
    first_request: threading.Event = field(default_factory=threading.Event)

    @property
    def event_ids(self) -> list[str]:
        return [r["id"] for r in self.received]

    @property
    def types(self) -> list[str]:
        return [r["type"] for r in self.received]


@contextmanager
def receiver(*script: Any) -> Iterator[Receiver]:
    state = Receiver(script=list(script))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                answer = state.script.pop(0) if state.script else 200
                state.first_request.set()
                if answer == "hang":
                    state.hung.append(json.loads(body)["id"])
                elif state.secret and not verify_signature(
                    state.secret, body, self.headers["Nself-Signature"]
                ):
                    state.bad_signatures += 1
                    answer = 400
                else:
                    event = json.loads(body)
                    assert self.headers["Nself-Event-Id"] == event["id"]
                    event["_status"] = answer
                    state.received.append(event)
            if answer == "hang":
                state.release.wait(60)
                return
            self.send_response(answer)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(port: int = 0, *, tls_context: Any = None) -> Iterator[tuple[_Mailbox, int]]:
    """With ``tls_context`` the server offers STARTTLS and refuses mail without it."""
    from aiosmtpd.controller import Controller

    if port == 0:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    mailbox = _Mailbox()
    extra: dict[str, Any] = (
        {"tls_context": tls_context, "require_starttls": True} if tls_context else {}
    )
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **extra)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def smtp_env(port: int) -> dict[str, str]:
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_SECURITY": "none",
        "SMTP_FROM": "billing@example.com",
    }
