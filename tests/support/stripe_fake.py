"""A recording HTTP client for the Stripe SDK's ``http_client=`` hook.

Each test queues the answers it expects (``expect``); every request the SDK makes is checked
against the next expectation (method and path) and recorded with its parsed query, form or JSON
parameters and headers, so the test can assert the exact parameters and idempotency key.
Answers are JSON fixtures from ``tests/fixtures/stripe`` (current API shape).
"""

from __future__ import annotations

import copy
import io
import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe
from requests.structures import CaseInsensitiveDict

FIXTURES = Path(__file__).parent.parent / "fixtures" / "stripe"


def fixture(name: str, **changes: Any) -> dict[str, Any]:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    data.pop("_reference", None)
    data.update(changes)
    return data


def listing(*items: dict[str, Any], url: str = "/v1/list") -> dict[str, Any]:
    return {"object": "list", "url": url, "has_more": False, "data": list(items)}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    json: Any
    headers: dict[str, str]

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key")

    @property
    def params(self) -> dict[str, str]:
        return {**self.query, **self.form}


@dataclass
class Expectation:
    method: str
    path: str
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class RecordingClient(stripe.HTTPClient):
    name = "recording"

    def __init__(self) -> None:
        super().__init__()
        self.expected: deque[Expectation] = deque()
        self.requests: list[Recorded] = []

    # --- test side -----------------------------------------------------------------------

    def expect(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> RecordingClient:
        self.expected.append(
            Expectation(method.lower(), path, status, copy.deepcopy(body), headers or {})
        )
        return self

    def assert_done(self) -> None:
        assert not self.expected, f"requests not made: {[e.path for e in self.expected]}"

    # --- SDK side ------------------------------------------------------------------------

    def _sleep_time_seconds(self, num_retries: int) -> float:
        return 0.0  # the SDK's retry backoff, not under test here

    def request(
        self, method: str, url: str, headers: Any, post_data: Any = None, *, _usage: Any = None
    ) -> tuple[str, int, Any]:
        body, status, rheaders = self._answer(method, url, headers, post_data)
        return (body if isinstance(body, str) else json.dumps(body)), status, rheaders

    def request_stream(
        self, method: str, url: str, headers: Any, post_data: Any = None, *, _usage: Any = None
    ) -> tuple[Any, int, Any]:
        body, status, rheaders = self._answer(method, url, headers, post_data)
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return io.BytesIO(raw), status, rheaders

    def _answer(self, method: str, url: str, headers: Any, post_data: Any) -> tuple[Any, int, Any]:
        parts = urlsplit(url)
        content_type = (headers or {}).get("Content-Type", "")
        data = post_data.decode() if isinstance(post_data, bytes) else (post_data or "")
        form: dict[str, str] = {}
        body_json = None
        if data and "json" in content_type:
            body_json = json.loads(data)
        elif data:
            form = dict(parse_qsl(data, keep_blank_values=True))
        self.requests.append(
            Recorded(
                method.lower(),
                parts.path,
                dict(parse_qsl(parts.query)),
                form,
                body_json,
                dict(headers or {}),
            )
        )
        assert self.expected, f"unexpected request {method.upper()} {parts.path}"
        expected = self.expected.popleft()
        assert (method.lower(), parts.path) == (expected.method, expected.path), (
            f"expected {expected.method.upper()} {expected.path}, got {method.upper()} {parts.path}"
        )
        rheaders = CaseInsensitiveDict(
            {"Request-Id": f"req_{len(self.requests):06d}", **expected.headers}
        )
        return expected.body if expected.body is not None else {}, expected.status, rheaders

    def close(self) -> None:
        pass


class MeterSink(stripe.HTTPClient):
    """A fake Stripe for the outbox: meter event sessions, the v2 meter event stream (deduplicated
    by identifier, as Stripe does), meters and their event summaries. ``fail_next`` programs the
    next stream answers (a status each; ``lost`` = Stripe stored the batch but the answer got
    lost on the way back)."""

    name = "meter-sink"

    def __init__(self) -> None:
        super().__init__()
        self.accepted: dict[str, dict[str, Any]] = {}
        self.stream_requests: list[list[str]] = []
        self.failures: deque[int | str] = deque()

    def fail_next(self, *answers: int | str) -> None:
        self.failures.extend(answers)

    def _sleep_time_seconds(self, num_retries: int) -> float:
        return 0.0

    def request(
        self, method: str, url: str, headers: Any, post_data: Any = None, *, _usage: Any = None
    ) -> tuple[str, int, Any]:
        path = urlsplit(url).path
        rheaders = CaseInsensitiveDict({"Request-Id": "req_sink"})
        if path == "/v2/billing/meter_event_session":
            return (
                json.dumps(
                    {
                        "id": "mes_1",
                        "object": "v2.billing.meter_event_session",
                        "authentication_token": "tok",
                        "livemode": False,
                        "expires_at": "2099-01-01T00:00:00.000Z",
                    }
                ),
                200,
                rheaders,
            )
        if path == "/v2/billing/meter_event_stream":
            events = json.loads(post_data)["events"]
            self.stream_requests.append([e["identifier"] for e in events])
            answer = self.failures.popleft() if self.failures else 200
            if answer in (200, "lost"):
                for e in events:
                    self.accepted.setdefault(e["identifier"], e)
            if answer == "lost":
                answer = 500
            if answer != 200:
                error = {
                    "error": {
                        "type": "api_error" if answer != 400 else "invalid_request_error",
                        "message": f"fake failure {answer}",
                    }
                }
                return json.dumps(error), int(answer), rheaders
            return "{}", 200, rheaders
        if path == "/v1/customers" and method.lower() == "post":
            form = dict(
                parse_qsl(post_data.decode() if isinstance(post_data, bytes) else post_data)
            )
            return (
                json.dumps(
                    {
                        "id": "cus_T3st0000000001",
                        "object": "customer",
                        "email": form.get("email"),
                        "name": form.get("name"),
                    }
                ),
                200,
                rheaders,
            )
        if path == "/v1/billing/meters":
            names = sorted({e["event_name"] for e in self.accepted.values()} | {"nself_api"})
            data = [
                {"id": f"mtr_{n}", "object": "billing.meter", "event_name": n, "status": "active"}
                for n in names
            ]
            return json.dumps(listing(*data)), 200, rheaders
        if path.startswith("/v1/billing/meters/") and path.endswith("/event_summaries"):
            name = path.split("/")[4].removeprefix("mtr_")
            query = dict(parse_qsl(urlsplit(url).query))
            total = sum(
                float(e["payload"]["value"])
                for e in self.accepted.values()
                if e["event_name"] == name
                and e["payload"]["stripe_customer_id"] == query["customer"]
            )
            summary = {
                "id": "mtrsum_1",
                "object": "billing.meter_event_summary",
                "aggregated_value": total,
            }
            return json.dumps(listing(summary)), 200, rheaders
        if method.lower() == "get" and path.startswith(("/v1/subscriptions/", "/v1/invoices/")):
            # an event's object read again: this sink keeps none, so the payload is applied
            return json.dumps(fixture("error_resource_missing")), 404, rheaders
        raise AssertionError(f"unexpected request {method} {path}")

    def close(self) -> None:
        pass
