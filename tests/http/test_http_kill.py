"""Nothing acknowledged is lost: the server process is SIGKILLed in the middle of a stream of
acknowledged batches (or of single-event requests from many senders, written in groups: group
commit in flight), and every acknowledged event must be in the database afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from .conftest import bearer

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(("per_request", "senders"), [(50, 4), (1, 16)], ids=["batches", "single"])
def test_every_acknowledged_event_survives_a_sigkill(env, service, tenants, per_request, senders):
    port = _free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "nself_billing", "tenant", "billing", "serve", "--port", str(port)],
        # the request log lines would fill the unread stderr pipe (and block the server)
        env={**env, "NSELF_LOG_LEVEL": "warning"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)

        acknowledged: list[str] = []
        lock = threading.Lock()
        enough = threading.Event()

        def send(worker: int) -> None:
            with httpx.Client(
                base_url=url, timeout=10, headers=bearer(tenants["cus_alpha"])
            ) as client:
                for batch in range(10_000):
                    ids = [f"k{worker}-{batch}-{i}" for i in range(per_request)]
                    events = [{"service": "api", "quantity": 1, "id": i} for i in ids]
                    try:
                        answer = client.post(
                            "/v1/usage", json=events[0] if per_request == 1 else {"events": events}
                        )
                    except httpx.TransportError:
                        return
                    if answer.status_code != 200:
                        return
                    with lock:
                        acknowledged.extend(ids)
                        if len(acknowledged) >= 2_000:
                            enough.set()

        workers = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
        for worker in workers:
            worker.start()
        assert enough.wait(60), "too few acknowledgements"
        os.kill(child.pid, signal.SIGKILL)
        for worker in workers:
            worker.join(30)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        assert child.stderr is not None
        child.stderr.close()
    # one statement, so one snapshot: a batch the killed server's connection was committing
    # may land between two statements of a READ COMMITTED transaction
    with service.context.db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT idempotency_key, (SELECT SUM(events) FROM billing_usage_daily)"
            " FROM billing_usage_records"
        ).all()
    keys = {row[0] for row in rows}
    rolled = rows[0][1] if rows else 0
    missing = [i for i in acknowledged if str(i) not in keys]
    assert len(acknowledged) >= 2_000
    assert missing == []
    assert rolled == len(keys)
