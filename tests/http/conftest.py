"""The HTTP service under test: the real app on a real uvicorn server on a free loopback port,
over the test's real database (both backends), driven by a real HTTP client."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from nself_billing import Billing
from nself_billing.http import create_app
from nself_billing.http.server import uvicorn_options

WEBHOOK_SECRET = "whsec_test_0123456789abcdef"


class RunningServer:
    def __init__(self, billing: Billing, app: FastAPI | None = None) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            app or create_app(billing),
            log_level="warning",
            lifespan="on",  # the app opens and closes what it holds (its loop connections)
            # as `serve` runs it (the bound on request headers)
            **uvicorn_options(billing.settings.http_max_header_bytes),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 30  # generous: a loaded CI host
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        self._sock = sock
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self._sock.close()


@pytest.fixture
def service(env: dict[str, str], clock) -> Iterator[Billing]:  # type: ignore[no-untyped-def]
    handle = Billing.from_env({**env, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}, clock=clock)
    yield handle
    handle.close()


@pytest.fixture
def server(service: Billing) -> Iterator[RunningServer]:
    running = RunningServer(service)
    yield running
    running.stop()


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture
def tenants(service: Billing) -> dict[str, str]:
    """Two customers on the pro plan, each with its own API key, and an admin key."""
    keys = {}
    for customer in ("cus_alpha", "cus_beta"):
        service.customers.create(
            email=f"{customer}@example.com", name=customer, customer_id=customer
        )
        service.subscriptions.start(customer, "pro")
        keys[customer] = service.apikeys.create(customer_id=customer).secret
    keys["admin"] = service.apikeys.create(admin=True, name="ops").secret
    return keys


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
