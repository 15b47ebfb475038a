"""One record per object: the CLI's ``--format json``, the function API and the HTTP API print a
subscription, a quota status, a usage report and an invoice with the same field names and
values, built by one function of ``render/`` (the HTTP API adds only the older names it
answered before, each equal to the field it names)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from decimal import Decimal
from typing import Any

import httpx
import pytest

import nself_billing as nb
from nself_billing import Billing
from nself_billing.api import use_billing
from nself_billing.render import invoices, subscriptions

from .conftest import RunningServer, bearer

CUSTOMER = "cus_onerecord01"


@pytest.fixture
def faces(env: dict[str, str]) -> Iterator[tuple[Billing, httpx.Client, dict[str, str]]]:
    """A customer moved from starter to pro (a prorated invoice) with some usage, on the wall
    clock as the CLI reads it; the HTTP service over it, and the function API's handle."""
    handle = Billing.from_env(env)
    handle.customers.create(email="one@example.com", name="One", customer_id=CUSTOMER)
    handle.subscriptions.start(CUSTOMER, "starter")
    handle.subscriptions.upgrade(CUSTOMER, "pro")
    handle.usage.record("api", "45200.5")
    handle.usage.record("storage", "2.25")
    key = bearer(handle.apikeys.create(customer_id=CUSTOMER).secret)
    running = RunningServer(handle)
    use_billing(handle)
    try:
        with httpx.Client(base_url=running.url, timeout=30) as client:
            yield handle, client, key
    finally:
        use_billing(None)
        running.stop()
        handle.close()


def _cli_json(cli: Any, *args: str) -> Any:
    result = cli("tenant", "billing", *args, "--format=json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _printed(function: Any, *args: Any) -> Any:
    out = io.StringIO()
    with redirect_stdout(out):
        function(*args)
    return json.loads(out.getvalue())


def _without(record: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in names}


def test_a_subscription_is_one_record_on_every_face(faces, cli):
    _billing, http, key = faces
    [shown] = _cli_json(cli, "subscription", "show")
    answered = http.get("/v1/subscription", headers=key).json()
    old = subscriptions.HTTP_OLD_NAMES
    assert _without(answered, *old) == shown
    assert {name: answered[name] for name in old} == {name: shown[f] for name, f in old.items()}
    assert (shown["plan_name"], shown["interval"], answered["plan"]) == ("pro", "month", "pro")
    pipe = nb.billing_get_subscription().split("|")
    assert pipe[:3] == [shown["subscription_id"], shown["plan_name"], shown["status"]]


def test_a_quota_status_is_one_record_on_every_face(faces, cli):
    billing, http, key = faces
    billing.quotas.set_override("compute", "unlimited")  # an override, and no limit at all
    shown_by_service = {}
    for service in ("api", "storage", "compute"):
        [shown] = _cli_json(cli, "quota", f"--service={service}", "--usage")
        answered = http.get(f"/v1/quota/{service}", headers=key).json()
        assert _without(answered, "customer_id", "icon") == shown
        listed = {q["service"]: q for q in http.get("/v1/quota", headers=key).json()["quotas"]}
        assert _without(listed[service], "icon") == shown
        [printed] = _printed(nb.quota_get_service, service, True, "json")
        assert printed == shown
        # the spec's bash JSON: the same fields (less the override's source), figures as numbers
        status = json.loads(nb.billing_get_quota_status(service))
        assert set(status) == set(shown) - {"source"}
        for name, value in status.items():
            expected = shown[name]
            if isinstance(value, int | float) and not isinstance(value, bool):
                assert Decimal(str(value)) == Decimal(str(expected)), name
            else:
                assert value == expected, name
        shown_by_service[service] = shown
    assert (shown_by_service["api"]["usage"], shown_by_service["api"]["percent"]) == ("45200.5", 4)
    compute = shown_by_service["compute"]
    assert (compute["source"], compute["quota"], compute["mode"], compute["percent"]) == (
        "override",
        None,
        None,
        None,
    )


def test_a_usage_report_is_one_record_on_every_face(faces, cli):
    _billing, http, key = faces
    shown = _cli_json(cli, "usage")
    answered = http.get("/v1/usage", headers=key).json()
    assert answered == shown
    assert json.loads(nb.usage_get_all(format="json")) == shown
    api = next(row for row in shown["services"] if row["service"] == "api")
    assert (api["usage"], api["cost"], shown["total_cost"]) == ("45200.5", "0.00", "0.00")


def test_an_invoice_is_one_record_on_every_face(faces, cli):
    billing, http, key = faces
    shown = _cli_json(cli, "invoice", "list")
    answered = http.get("/v1/invoices", headers=key).json()["invoices"]
    old = invoices.HTTP_OLD_NAMES
    assert [_without(record, *old) for record in answered] == shown
    assert [record["total"] for record in answered] == [r["total_amount"] for r in shown]
    [invoice] = billing.invoices.list(CUSTOMER)
    assert shown[0]["total_amount"] == f"{invoice.total:.2f}"
    [detailed] = _cli_json(cli, "invoice", "show", invoice.invoice_id)
    assert _without(detailed, "lines") == shown[0]
