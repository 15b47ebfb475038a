"""Operational limits, tried as a careless operator or a hostile client would, over real
sockets: oversized request headers (431, and the server does not grow), a table lock held by
another session (503 with Retry-After within the deadline, not a hang), what /healthz,
/readyz and 503 answers show of the database, and the settings behind them."""

from __future__ import annotations

import select
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from nself_billing import Billing
from nself_billing.errors import ConfigError
from nself_billing.http import create_app
from nself_billing.settings import Settings

from .conftest import RunningServer, bearer


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _send_huge_header(port: int, size: int, *, path: str = "/v1/quota") -> bytes:
    """Send a request whose one header is ``size`` bytes, in 256 KiB pieces, stopping as soon
    as the server answers; the server's answer (what arrived before it closed)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nX-Big: ".encode())
        piece = b"a" * (256 * 1024)
        sent = 0
        while sent < size:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(piece)
            except OSError:  # the server closed: its answer is read below
                break
            sent += len(piece)
        else:
            sock.sendall(b"\r\n\r\n")
        answer = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            answer += chunk
        return answer
    finally:
        sock.close()


def test_a_request_with_oversized_headers_is_answered_431(server, http):
    answer = _send_huge_header(server.port, 64 * 1024 * 1024)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 ")
    assert body == (
        b'{"error":"Request header fields too large (limit 16384 bytes)",'
        b'"code":"HEADERS_TOO_LARGE"}'
    )
    # headers within the bound still work, on a new connection and on a kept-alive one
    assert http.get("/healthz", headers={"X-Big": "a" * 12_000}).status_code == 200
    assert http.get("/healthz", headers={"X-Big": "b" * 12_000}).status_code == 200


def test_the_header_bound_is_a_setting(env, clock):
    with Billing.from_env({**env, "BILLING_HTTP_MAX_HEADER_BYTES": "4096"}, clock=clock) as handle:
        running = RunningServer(handle)
        try:
            answer = _send_huge_header(running.port, 8 * 1024)
            assert answer.startswith(b"HTTP/1.1 431 ")
            ok = httpx.get(running.url + "/healthz", headers={"X-A": "a" * 3000}, timeout=10)
            assert ok.status_code == 200
        finally:
            running.stop()


@contextmanager
def _serve(env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """``nself tenant billing serve`` as a user runs it (one worker); its URL and pid."""
    port = _free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "nself_billing", "tenant", "billing", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            assert child.poll() is None, "server exited"
            time.sleep(0.05)
        yield url, child.pid
    finally:
        child.terminate()
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.slow
def test_concurrent_huge_headers_do_not_grow_the_server(env, backend):
    if backend == "postgresql":
        pytest.skip("the HTTP protocol does not depend on the backend")
    with _serve(env) as (url, pid):
        port = int(url.rsplit(":", 1)[1])
        before = _peak_rss_kib(pid)
        answers: list[bytes] = []
        senders = [
            threading.Thread(
                target=lambda: answers.append(_send_huge_header(port, 32 * 1024 * 1024))
            )
            for _ in range(8)
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(60)
        assert len(answers) == 8
        assert all(answer.startswith(b"HTTP/1.1 431 ") for answer in answers)
        grown = _peak_rss_kib(pid) - before
        # 8 x 32 MiB kept would be 256 MiB (the unbounded server grew by 325 MB)
        assert grown < 24 * 1024, f"the server grew by {grown} KiB"
        assert httpx.get(url + "/healthz", timeout=10).status_code == 200


# -- a lock held by another session ---------------------------------------------------------


@contextmanager
def _table_locked(env: dict[str, str], backend: str, root: Path) -> Iterator[None]:
    """Another session holds a write lock: PostgreSQL, ACCESS EXCLUSIVE on the usage events
    and the rollups; SQLite, the database's write lock (BEGIN IMMEDIATE)."""
    if backend == "postgresql":
        url = env["BILLING_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url) as conn:
            conn.execute(
                "LOCK TABLE billing_usage_records, billing_usage_daily IN ACCESS EXCLUSIVE MODE"
            )
            yield
            conn.rollback()
    else:
        conn = sqlite3.connect(root / ".nself" / "billing" / "billing.db", isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield
            conn.execute("ROLLBACK")
        finally:
            conn.close()


def _limited_server(env: dict[str, str], clock, **limits: str) -> tuple[Billing, RunningServer]:  # type: ignore[no-untyped-def]
    handle = Billing.from_env({**env, **limits}, clock=clock)
    return handle, RunningServer(handle)


def _customer_with_key(handle: Billing) -> str:
    handle.customers.create(email="a@example.com", name="A", customer_id="cus_locked")
    handle.subscriptions.start("cus_locked", "pro")
    return handle.apikeys.create(customer_id="cus_locked").secret


def _assert_retry_later(answer: httpx.Response, code: str) -> None:
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["code"] == code
    for secret in ("127.0.0.1", "5432", "nself_test", "billing.db", "postgres"):
        assert secret not in answer.text


def _events_named(handle: Billing, event_id: str) -> int:
    with handle.context.db.read() as conn:
        return int(
            conn.exec_driver_sql(
                "SELECT COUNT(*) FROM billing_usage_records WHERE idempotency_key LIKE ?"
                if handle.context.db.is_sqlite
                else "SELECT COUNT(*) FROM billing_usage_records WHERE idempotency_key LIKE %s",
                (f"%{event_id}",),
            ).scalar_one()
        )


def test_writes_behind_a_table_lock_answer_503_with_retry_after(env, backend, root, clock):
    handle, running = _limited_server(
        env, clock, BILLING_DB_LOCK_TIMEOUT="1", BILLING_HTTP_REQUEST_TIMEOUT="5"
    )
    try:
        key = _customer_with_key(handle)
        with httpx.Client(base_url=running.url, timeout=30, headers=bearer(key)) as http:
            with _table_locked(env, backend, root):
                for path, body in (
                    ("/v1/usage", {"service": "api", "quantity": 1, "id": "locked-1"}),
                    ("/v1/quota/api/consume", {"quantity": 1, "id": "locked-2"}),
                ):
                    started = time.monotonic()
                    answer = http.post(path, json=body)
                    elapsed = time.monotonic() - started
                    _assert_retry_later(answer, "DATABASE_UNAVAILABLE")
                    assert answer.json()["error"] == "Database unavailable; retry later"
                    # the database gave up at its lock timeout, well within the deadline
                    assert elapsed < 4.5, elapsed
                # liveness still answers; it reads nothing
                assert http.get("/healthz").json() == {"status": "ok"}
            # nothing was written, and a retry with the same id records once
            assert _events_named(handle, "locked-1") == 0
            assert _events_named(handle, "locked-2") == 0
            retried = http.post(
                "/v1/usage", json={"service": "api", "quantity": 1, "id": "locked-1"}
            )
            assert retried.json()["recorded"] == 1
            assert _events_named(handle, "locked-1") == 1
    finally:
        running.stop()
        handle.close()


def test_the_request_deadline_answers_503_when_the_database_waits_on(env, backend, root, clock):
    # no database bound (0): the request deadline is what answers
    handle, running = _limited_server(
        env,
        clock,
        BILLING_DB_LOCK_TIMEOUT="0",
        BILLING_DB_STATEMENT_TIMEOUT="0",
        BILLING_HTTP_REQUEST_TIMEOUT="1",
    )
    try:
        key = _customer_with_key(handle)
        with httpx.Client(base_url=running.url, timeout=30, headers=bearer(key)) as http:
            with _table_locked(env, backend, root):
                started = time.monotonic()
                answer = http.post("/v1/usage", json={"service": "api", "quantity": 1})
                elapsed = time.monotonic() - started
                _assert_retry_later(answer, "DEADLINE_EXCEEDED")
                assert answer.json()["error"] == (
                    "The request did not finish within 1 s; retry later (with the same ids)"
                )
                assert 0.9 < elapsed < 3.0, elapsed
            # once the lock is gone the service answers again
            assert http.get("/v1/quota/api").status_code == 200
    finally:
        running.stop()
        handle.close()


# -- what the service shows of its database -------------------------------------------------


def test_health_readiness_and_503s_never_show_where_the_database_is(root, clock):
    port = _free_port()  # nothing listens there
    env = {
        "NSELF_ROOT": str(root),
        "BILLING_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{port}/nself_secret_db",
    }
    handle = Billing.from_env(env, clock=clock, migrate=False)
    running = RunningServer(handle)
    try:
        with httpx.Client(base_url=running.url, timeout=30) as http:
            assert http.get("/healthz").json() == {"status": "ok"}
            ready = http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json() == {"status": "unavailable"}
            assert ready.headers["retry-after"] == "1"
            keyed = http.get("/v1/quota", headers=bearer("nsb_0123456789abcdef_secret"))
            for answer in (ready, keyed):
                assert str(port) not in answer.text
                assert "127.0.0.1" not in answer.text
                assert "nself_secret_db" not in answer.text
            assert keyed.status_code == 503
            assert keyed.json() == {
                "error": "Database unavailable; retry later",
                "code": "DATABASE_UNAVAILABLE",
            }
    finally:
        running.stop()
        handle.close()


def test_readiness_shows_the_database_to_an_admin_key_only(http, tenants):
    assert http.get("/readyz").json() == {"status": "ready"}
    customer = http.get("/readyz", headers=bearer(tenants["cus_alpha"])).json()
    assert customer == {"status": "ready"}
    assert http.get("/readyz", headers=bearer("nsb_not_a_key")).json() == {"status": "ready"}
    admin = http.get("/readyz", headers=bearer(tenants["admin"])).json()
    assert admin["status"] == "ready"
    assert admin["database"].startswith("connected, schema ")


def test_healthz_reads_nothing(service, server, http):
    # liveness answers even with the database handle closed under it
    service.context.db.dispose()
    assert http.get("/healthz").json() == {"status": "ok"}


# -- settings ------------------------------------------------------------------------------


def test_the_limits_have_documented_defaults(root):
    settings = Settings.from_env({"NSELF_ROOT": str(root)})
    assert settings.http_max_header_bytes == 16 * 1024
    assert settings.http_request_timeout == 15.0
    assert settings.db_statement_timeout == 10.0
    assert settings.db_lock_timeout == 10.0
    zero = Settings.from_env({"NSELF_ROOT": str(root), "BILLING_HTTP_REQUEST_TIMEOUT": "0"})
    assert zero.http_request_timeout is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BILLING_HTTP_REQUEST_TIMEOUT", "-1"),
        ("BILLING_HTTP_REQUEST_TIMEOUT", "soon"),
        ("BILLING_DB_LOCK_TIMEOUT", "nan"),
        ("BILLING_DB_STATEMENT_TIMEOUT", "1e9"),
        ("BILLING_HTTP_MAX_HEADER_BYTES", "100"),
        ("BILLING_HTTP_MAX_HEADER_BYTES", "16k"),
    ],
)
def test_a_bad_limit_is_a_configuration_error(root, name, value):
    with pytest.raises(ConfigError, match=f"Invalid {name}: {value}"):
        Settings.from_env({"NSELF_ROOT": str(root), name: value})


def test_the_service_sessions_have_the_database_timeouts(env, backend, clock):
    with Billing.from_env(
        {**env, "BILLING_DB_LOCK_TIMEOUT": "2", "BILLING_DB_STATEMENT_TIMEOUT": "3"}, clock=clock
    ) as handle:
        create_app(handle)
        with handle.context.db.read() as conn:
            if backend == "postgresql":
                assert conn.exec_driver_sql("SHOW lock_timeout").scalar_one() == "2s"
                assert conn.exec_driver_sql("SHOW statement_timeout").scalar_one() == "3s"
            else:
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 2000


# -- the deadline's one timer per worker -------------------------------------------------------


def _deadline_run(seconds: float, plan: list[tuple[float, float, bool]]) -> list[tuple]:  # type: ignore[type-arg]
    """Requests through ``RequestDeadline`` on one event loop, as a worker serves them: each
    ``(arrives, takes, answers_early)`` arrives at that many seconds, takes that long, and sends
    its status line first when ``answers_early``. Each request's outcome: its status (or the
    exception it ended with) and when it ended, in seconds from the start."""
    import asyncio

    from nself_billing.http.limits import RequestDeadline

    async def endpoint(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["answers_early"]:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(scope["takes"])
        if not scope["answers_early"]:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    deadline = RequestDeadline(endpoint, seconds=seconds)

    async def main() -> list[tuple]:  # type: ignore[type-arg]
        started = asyncio.get_running_loop().time()

        async def one(arrives: float, takes: float, answers_early: bool) -> tuple:  # type: ignore[type-arg]
            await asyncio.sleep(arrives)
            statuses: list[int] = []

            async def send(message):  # type: ignore[no-untyped-def]
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])

            async def receive():  # type: ignore[no-untyped-def]
                return {"type": "http.disconnect"}

            scope = {"type": "http", "takes": takes, "answers_early": answers_early}
            try:
                await deadline(scope, receive, send)
                outcome: object = statuses[-1]
            except Exception as error:
                outcome = type(error).__name__
            return outcome, round(asyncio.get_running_loop().time() - started, 2)

        return list(await asyncio.gather(*(one(*request) for request in plan)))

    return asyncio.run(main())


def test_each_request_gets_its_own_deadline_from_one_timer():
    outcomes = _deadline_run(
        0.5,
        [
            (0.0, 10.0, False),  # stuck: 503 at its deadline, 0.5 s
            (0.1, 0.1, False),  # quick: answered
            (0.3, 10.0, False),  # stuck, arriving later: 503 at 0.8 s, not at the first's
            (0.4, 0.2, False),  # done at 0.6 s, between the two deadlines
            (1.0, 10.0, False),  # after the timer ran out of requests: armed again, 1.5 s
        ],
    )
    (first, at_first), (second, _), (third, at_third), (fourth, _), (fifth, at_fifth) = outcomes
    assert (first, second, third, fourth, fifth) == (503, 200, 503, 200, 503)
    assert 0.5 <= at_first < 0.7
    assert 0.8 <= at_third < 1.0
    assert 1.5 <= at_fifth < 1.7


def test_a_response_already_started_ends_with_the_deadline_instead_of_a_503():
    ((outcome, at),) = _deadline_run(0.3, [(0.0, 10.0, True)])
    assert outcome == "TimeoutError"
    assert 0.3 <= at < 0.5


def test_a_request_cancelled_by_anyone_else_stays_cancelled():
    import asyncio

    from nself_billing.http.limits import RequestDeadline

    async def endpoint(scope, receive, send):  # type: ignore[no-untyped-def]
        await asyncio.sleep(10)

    deadline = RequestDeadline(endpoint, seconds=5)

    async def main() -> None:
        request = asyncio.ensure_future(deadline({"type": "http"}, None, None))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        request.cancel()  # a server shutting down, say: not a timeout
        with pytest.raises(asyncio.CancelledError):
            await request

    asyncio.run(main())
