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

    def expect(self, method: str, path: str, body: Any = None, *, status: int = 200,
               headers: dict[str, str] | None = None) -> RecordingClient:
        self.expected.append(Expectation(method.lower(), path, status, copy.deepcopy(body),
                                         headers or {}))
        return self

    def assert_done(self) -> None:
        assert not self.expected, f"requests not made: {[e.path for e in self.expected]}"

    # --- SDK side ------------------------------------------------------------------------

    def _sleep_time_seconds(self, num_retries: int) -> float:
        return 0.0  # the SDK's retry backoff, not under test here

    def request(self, method: str, url: str, headers: Any, post_data: Any = None, *,
                _usage: Any = None) -> tuple[str, int, Any]:
        body, status, rheaders = self._answer(method, url, headers, post_data)
        return (body if isinstance(body, str) else json.dumps(body)), status, rheaders

    def request_stream(self, method: str, url: str, headers: Any, post_data: Any = None, *,
                       _usage: Any = None) -> tuple[Any, int, Any]:
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
        self.requests.append(Recorded(method.lower(), parts.path, dict(parse_qsl(parts.query)),
                                      form, body_json, dict(headers or {})))
        assert self.expected, f"unexpected request {method.upper()} {parts.path}"
        expected = self.expected.popleft()
        assert (method.lower(), parts.path) == (expected.method, expected.path), (
            f"expected {expected.method.upper()} {expected.path}, "
            f"got {method.upper()} {parts.path}")
        rheaders = CaseInsensitiveDict({"Request-Id": f"req_{len(self.requests):06d}",
                                        **expected.headers})
        return expected.body if expected.body is not None else {}, expected.status, rheaders

    def close(self) -> None:
        pass
