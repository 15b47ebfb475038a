"""How ``serve`` runs uvicorn: each worker on a listening socket of its own (the kernel spreads
connections over them), and each response written in one system call."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from nself_billing.http.server import OneWriteResponses

from .test_http_notify_serve import _free_port, _serve


class _Transport(asyncio.Transport):
    """A transport that records each write (the socket's system calls)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def test_a_response_head_and_its_body_go_in_one_write():
    async def scenario() -> _Transport:
        transport = _Transport()
        responses = OneWriteResponses(transport, asyncio.get_running_loop())
        responses.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        assert transport.writes == []  # held for its body
        responses.write(b"{}")
        responses.write(b"HTTP/1.1 204 No Content\r\n\r\n")  # a head alone (streamed later)
        await asyncio.sleep(0)  # the loop's next turn writes it
        await asyncio.sleep(0)
        responses.write(b"more")
        responses.write(b"HTTP/1.1 200 OK\r\n\r\n")
        responses.close()  # what is held goes before the close
        return transport

    transport = asyncio.run(scenario())
    assert transport.writes == [
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"more",
        b"HTTP/1.1 200 OK\r\n\r\n",
    ]
    assert transport.closed


def _listeners(port: int) -> int:
    """Listening TCP sockets on ``port`` (IPv4), from /proc/net/tcp."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state = fields[1], fields[3]
        if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
            count += 1
    return count


@pytest.mark.slow
@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(socket, "SO_REUSEPORT"),
    reason="SO_REUSEPORT and /proc/net/tcp are Linux's",
)
def test_each_worker_listens_on_a_socket_of_its_own(env):
    port = _free_port()
    child = _serve(env, port, "--workers", "2")
    try:
        for _ in range(100):  # both workers up
            if _listeners(port) == 2:
                break
            time.sleep(0.1)
        assert _listeners(port) == 2
        answers = [httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5) for _ in range(20)]
        assert {answer.status_code for answer in answers} == {200}
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(30)
    assert _listeners(port) == 0
