"""The customer portal page in a real headless browser (Debian's chromium, driven by
playwright), over real HTTP; a screenshot is saved under test-artifacts/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from .conftest import bearer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
HOSTILE_NAME = "<script>window.__pwned = 1</script>Evil & Co \"'"


def _token(service, customer_id: str) -> str:
    link = service.portal.link(customer_id)
    return parse_qs(urlparse(link.url).query)["token"][0]


@pytest.fixture
def portal_customer(service, clock, tenants, http) -> str:
    """cus_alpha with a hostile name, a closed period (one invoice) and usage this period."""
    service.customers.update("cus_alpha", name=HOSTILE_NAME)
    key = bearer(tenants["cus_alpha"])
    http.post(
        "/v1/usage",
        headers=key,
        json={
            "events": [
                {
                    "service": "api",
                    "quantity": 1000 * (1 + d % 5),
                    "id": f"a{d}",
                    "timestamp": f"2026-01-{15 + d:02d}T10:00:00Z",
                    "metadata": {"<b>x</b>": "<img src=x onerror=window.__pwned=2>"},
                }
                for d in range(10)
            ]
        },
    )
    clock.advance(days=32)
    service.cycle.run()
    http.post(
        "/v1/usage",
        headers=key,
        json={
            "events": [
                {"service": "storage", "quantity": "12.5", "id": "s1"},
                {"service": "api", "quantity": 950_000, "id": "big"},
            ]
        },
    )
    return "cus_alpha"


def test_the_portal_renders_plan_usage_quotas_and_invoices(server, http, service, portal_customer):
    answer = http.get("/portal", params={"token": _token(service, portal_customer)})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert "<script>" not in html and "onerror=" not in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;Evil &amp; Co" in html
    assert 'id="quotas"' in html and "<svg" in html
    assert "band-critical" in html  # 950K of 1M api requests: 95%


def test_a_bad_or_expired_token_is_refused(server, http, service, clock, portal_customer):
    token = _token(service, portal_customer)
    assert http.get("/portal", params={"token": token[:-2] + "xx"}).status_code == 422
    assert http.get("/portal").status_code == 422
    clock.advance(hours=2)
    answer = http.get("/portal", params={"token": token})
    assert answer.status_code == 422
    assert "expired" in answer.json()["error"]


def test_invoice_pdfs_download_only_for_the_tokens_customer(server, http, service, portal_customer):
    token = _token(service, portal_customer)
    invoice = service.invoices.list(portal_customer)[0]
    answer = http.get(f"/portal/invoices/{invoice.invoice_id}.pdf", params={"token": token})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF")
    other = _token(service, "cus_beta")
    refused = http.get(f"/portal/invoices/{invoice.invoice_id}.pdf", params={"token": other})
    assert refused.status_code == 404


@pytest.mark.slow
def test_the_portal_in_a_headless_browser(server, service, portal_customer, backend):
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        # as with PostgreSQL: required in CI (.ci/run installs it), skipped with the reason
        # elsewhere
        message = "chromium not found (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (required in CI)", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    url = f"{server.url}/portal?token={_token(service, portal_customer)}"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            response = page.goto(url)
            assert response is not None and response.status == 200
            assert page.evaluate("window.__pwned") is None
            assert page.title() == f"Billing portal · {HOSTILE_NAME}"
            assert page.inner_text("h1") == HOSTILE_NAME
            assert "Pro" in page.inner_text("#plan")
            assert page.locator("#quotas tbody tr").count() == 6
            api_row = page.locator('#quotas tr[data-service="api"]').inner_text()
            assert "critical" in api_row
            assert page.locator('.usage-service[data-service="api"] svg rect').count() >= 28
            assert page.locator('.usage-service[data-service="bandwidth"] svg').count() == 0
            assert page.locator("#invoices a[download]").count() >= 1
            page.screenshot(path=str(ARTIFACTS / f"portal-{backend}.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
    assert (ARTIFACTS / f"portal-{backend}.png").stat().st_size > 10_000


def test_the_invoices_of_the_callers_customer(http, tenants, portal_customer):
    answer = http.get("/v1/invoices", headers=bearer(tenants["cus_alpha"]))
    assert answer.status_code == 200
    invoices = answer.json()["invoices"]
    assert [(i["total"], i["status"]) for i in invoices] == [("99.00", "open")]
    other = http.get("/v1/invoices", headers=bearer(tenants["cus_beta"]))
    assert all(i["invoice_id"] != invoices[0]["invoice_id"] for i in other.json()["invoices"])
    forbidden = http.get(
        "/v1/invoices", headers=bearer(tenants["cus_beta"]), params={"customer_id": "cus_alpha"}
    )
    assert forbidden.status_code == 403
