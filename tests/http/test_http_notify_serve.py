"""``serve`` delivers notifications in the background; a kill -9 in the middle of a delivery
loses nothing and repeats only that delivery, with the same event id. Its metrics add up
every worker (prometheus_client's multiprocess mode)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from nself_billing import Billing

from ..support.receivers import receiver

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(env: dict[str, str], port: int, *extra: str) -> subprocess.Popen:
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nself_billing",
            "tenant",
            "billing",
            "serve",
            "--port",
            str(port),
            *list(extra),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return child
        except httpx.TransportError:
            pass
        assert child.poll() is None, "serve exited"
        assert time.monotonic() < deadline, "serve did not start"
        time.sleep(0.1)


def _requests_to(url: str, route: str) -> float:
    text = httpx.get(url + "/metrics", timeout=10).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "nself_billing_http_requests_total"
                and sample.labels["route"] == route
            ):
                total += sample.value
    return total


def test_a_kill_9_mid_delivery_loses_nothing_and_repeats_the_same_event_id(env, tmp_path):
    env = {
        **env,
        "BILLING_NOTIFY_TIMEOUT": "2",
        "BILLING_METRICS_PUBLIC": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    with receiver("hang") as hooks:
        setup = Billing.from_env(env)
        try:
            _, hooks.secret = (lambda made: (made.endpoint, made.secret))(
                setup.notify.add_endpoint(hooks.url)
            )
            for n in range(3):
                setup.customers.create(email=f"c{n}@example.com", customer_id=f"cus_k{n}")
            queued = [d.event_id for d in reversed(setup.notify.deliveries())]
        finally:
            setup.close()
        assert len(queued) == 3

        first = _serve(env, _free_port())
        try:
            assert hooks.first_request.wait(30), "serve sent nothing"
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.wait(10)
        assert hooks.hung == [queued[0]]
        assert hooks.received == []

        port = _free_port()
        second = _serve(env, port, "--workers", "2")
        try:
            deadline = time.monotonic() + 60  # the dead process's lease runs out first
            while len(hooks.received) < 3 and time.monotonic() < deadline:
                time.sleep(0.2)
            url = f"http://127.0.0.1:{port}"
            # /healthz is answered before the app's layers (uncounted): /readyz is counted
            before = _requests_to(url, "/readyz")
            for _ in range(20):
                assert httpx.get(url + "/readyz", timeout=10).status_code == 200
            after = _requests_to(url, "/readyz")
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)

    assert hooks.event_ids == queued  # in order, each once after the repeat of the first
    assert hooks.bad_signatures == 0
    assert after - before == 20  # both workers' requests are counted


def test_serve_delivers_in_the_background_while_answering(env, tmp_path):
    env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    with receiver() as hooks:
        port = _free_port()
        child = _serve(env, port)
        try:
            setup = Billing.from_env(env)
            try:
                hooks.secret = setup.notify.add_endpoint(hooks.url).secret
                setup.customers.create(email="a@example.com", customer_id="cus_bg")
            finally:
                setup.close()
            deadline = time.monotonic() + 30
            while not hooks.received and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            child.send_signal(signal.SIGTERM)
            child.wait(30)
    assert hooks.types == ["customer.created"]
    assert hooks.received[0]["customer"] == "cus_bg"
