"""The OpenAPI schema, fuzzed with schemathesis over real HTTP: no answer is ever a 5xx."""

from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from .conftest import bearer

pytestmark = pytest.mark.slow

#: examples per operation, and a wall-clock cap for the whole run (the machine is shared)
EXAMPLES = 60
BUDGET_SECONDS = 60


def test_no_generated_request_gets_a_5xx(server, tenants):
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    auth = bearer(tenants["cus_alpha"])
    started = time.monotonic()
    failures: list[str] = []
    seen: dict[tuple[str, int], int] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 3
    for operation in operations:
        if time.monotonic() - started > BUDGET_SECONDS:
            break

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(base_url=server.url, headers=auth, timeout=30)
            key = (f"{case.method} {case.path}", response.status_code)
            seen[key] = seen.get(key, 0) + 1
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.path} -> {response.status_code}: {response.text[:200]}"
                )

        check()
    assert failures == []
    # the fuzzer got past authentication and validation into the handlers
    assert seen.get(("POST /v1/usage", 200), 0) > 0, seen
