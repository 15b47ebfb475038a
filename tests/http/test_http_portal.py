"""The customer portal page in a real headless browser (Debian's chromium, driven by
playwright), over real HTTP; a screenshot is saved under test-artifacts/."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
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
            usage = page.inner_text("#usage")
            assert "API: 950.0K requests (1 event)" in usage and "Api" not in usage
            assert "Storage: 12.5 GB-hours (1 event)" in usage and "GB GB" not in usage

            # the actions, as a customer clicks them
            page.click('#plan-options tr[data-plan="starter"] button')
            assert "will change at the end" in page.inner_text("#notice")
            assert "Changes to Starter" in page.inner_text("#plan")
            page.click("text=Cancel at period end")
            assert "reactivate it until then" in page.inner_text("#notice")
            page.click("text=Keep my subscription")
            assert page.inner_text("#notice") == "Your subscription will continue."
            page.select_option('select[name="brand"]', "mastercard")
            page.fill('input[name="last4"]', "5454")
            page.fill('input[name="expiry"]', "09/2031")
            page.click("text=Add card")
            assert page.inner_text("#notice") == "Payment method added."
            assert "mastercard •••• 5454" in page.inner_text("#payment-methods")
            page.screenshot(path=str(ARTIFACTS / f"portal-{backend}.png"), full_page=True)
            page.fill('input[name="last4"]', "5454")
            page.fill('input[name="expiry"]', "09/2020")
            page.click("text=Add card")
            assert "Card expired: 09/2020" in page.inner_text("#error")
            assert errors == []
        finally:
            browser.close()
    subscription = service.subscriptions.current(portal_customer)
    assert (subscription.scheduled_plan_name, subscription.cancel_at_period_end) == (
        "starter",
        False,
    )
    [method] = service.payment_methods.list(portal_customer)
    assert (method.brand, method.last4, method.is_default) == ("mastercard", "5454", True)
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


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no form"
    return match.group(1)


def _post(http, action: str, token: str, csrf: str | None, customer_id: str, **fields: str):
    form = {"token": token, "customer_id": customer_id, **fields}
    if csrf is not None:
        form["csrf"] = csrf
    return http.post(f"/portal/actions/{action}", data=form, follow_redirects=False)


def test_units_service_names_and_plurals_read_well(server, http, service, portal_customer):
    html = http.get("/portal", params={"token": _token(service, portal_customer)}).text
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "Storage : 12.5 GB-hours (1 event)" in text
    assert "API : 950.0K requests (1 event)" in text
    assert "Bandwidth : 0.0 GB (0 events)" in text
    assert "GB GB" not in text and "GBGB" not in text and "Api" not in text
    assert "(1 events)" not in text
    [invoice] = service.invoices.list(portal_customer)
    assert invoice.number in ("INV-000001", "INV-000002")  # cus_beta's period closed too
    assert f"{invoice.number} 2026-02-16" in text and "open · due 2026-03-18" in text
    assert "API requests 950.0K 1.0M 95" in text  # quotas: the unit once, beside the service


def test_portal_actions_change_plan_cancel_reactivate_and_payment_methods(
    server, http, service, portal_customer
):
    customer = portal_customer  # on pro
    token = _token(service, customer)
    csrf = _csrf(http.get("/portal", params={"token": token}).text)

    moved = _post(http, "downgrade", token, csrf, customer, plan="starter")
    assert moved.status_code == 303
    assert moved.headers["location"].endswith("&done=downgraded")
    assert service.subscriptions.current(customer).scheduled_plan_name == "starter"
    shown = http.get(moved.headers["location"]).text
    assert "Your plan will change at the end of the current period." in shown

    cancelled = _post(http, "cancel", token, csrf, customer)
    assert cancelled.status_code == 303
    assert service.subscriptions.current(customer).cancel_at_period_end is True
    # what the service refuses, the page shows with the reason (and nothing changes)
    again = _post(http, "downgrade", token, csrf, customer, plan="free")
    assert again.status_code == 409
    assert "reactivate it first" in again.text and 'id="error"' in again.text
    assert _post(http, "reactivate", token, csrf, customer).status_code == 303
    assert service.subscriptions.current(customer).cancel_at_period_end is False

    added = _post(
        http,
        "add-payment-method",
        token,
        csrf,
        customer,
        brand="visa",
        last4="4242",
        expiry="12/2030",
    )
    assert added.status_code == 303
    second = _post(
        http,
        "add-payment-method",
        token,
        csrf,
        customer,
        brand="mastercard",
        last4="5555",
        expiry="01/2031",
    )
    assert second.status_code == 303
    first, other = sorted(service.payment_methods.list(customer), key=lambda m: m.last4)
    assert (first.last4, first.is_default, other.is_default) == ("4242", True, False)
    made_default = _post(
        http,
        "default-payment-method",
        token,
        csrf,
        customer,
        payment_method_id=other.payment_method_id,
    )
    assert made_default.status_code == 303
    removed = _post(
        http,
        "remove-payment-method",
        token,
        csrf,
        customer,
        payment_method_id=first.payment_method_id,
    )
    assert removed.status_code == 303
    [left] = service.payment_methods.list(customer)
    assert (left.last4, left.is_default) == ("5555", True)
    bad_card = _post(
        http,
        "add-payment-method",
        token,
        csrf,
        customer,
        brand="visa",
        last4="42",
        expiry="12/2030",
    )
    assert bad_card.status_code == 422 and "Invalid last4" in bad_card.text


def test_an_upgrade_from_the_portal_invoices_the_difference(server, http, service, clock, tenants):
    service.customers.create(email="s@example.com", name="Small", customer_id="cus_small")
    service.subscriptions.start("cus_small", "starter")
    clock.advance(days=10)
    token = _token(service, "cus_small")
    page = http.get("/portal", params={"token": token}).text
    assert 'action="/portal/actions/upgrade"' in page
    done = _post(http, "upgrade", token, _csrf(page), "cus_small", plan="pro")
    assert done.status_code == 303
    assert service.subscriptions.current("cus_small").plan_name == "pro"
    [invoice] = service.invoices.list("cus_small")
    assert (invoice.kind, invoice.number) == ("proration", "INV-000001")
    assert invoice.total > 0


def _state(service, customer_id: str):
    subscription = service.subscriptions.current(customer_id)
    methods = [
        (m.payment_method_id, m.is_default) for m in service.payment_methods.list(customer_id)
    ]
    return (
        subscription.plan_name,
        subscription.scheduled_plan_name,
        subscription.cancel_at_period_end,
        methods,
    )


def test_forged_missing_or_other_customers_requests_change_nothing(
    server, http, service, portal_customer
):
    alpha, beta = portal_customer, "cus_beta"
    beta_method = service.payment_methods.add(beta, brand="visa", last4="1111", expiry="12/2030")
    alpha_token, beta_token = _token(service, alpha), _token(service, beta)
    alpha_csrf = _csrf(http.get("/portal", params={"token": alpha_token}).text)
    before = (_state(service, alpha), _state(service, beta))

    attempts = [
        # no CSRF token, a forged one, one made for another customer's page
        _post(http, "cancel", alpha_token, None, alpha),
        _post(http, "cancel", alpha_token, alpha_csrf[:-3] + "AAA", alpha),
        _post(http, "cancel", beta_token, alpha_csrf, beta),
        # another customer's id beside a valid link and token
        _post(http, "cancel", alpha_token, alpha_csrf, beta),
    ]
    assert [a.status_code for a in attempts] == [403, 403, 403, 403]
    # the right token but no cookie: another site's form cannot send it
    with httpx.Client(base_url=server.url, timeout=30) as stranger:
        no_cookie = _post(stranger, "cancel", alpha_token, alpha_csrf, alpha)
    assert no_cookie.status_code == 403
    # a forged or missing link
    assert _post(http, "cancel", alpha_token[:-2] + "xx", alpha_csrf, alpha).status_code == 422
    assert _post(http, "cancel", "", alpha_csrf, alpha).status_code == 422
    # another customer's payment method, through a valid form of one's own: not found
    foreign = _post(
        http,
        "remove-payment-method",
        alpha_token,
        alpha_csrf,
        alpha,
        payment_method_id=beta_method.payment_method_id,
    )
    assert foreign.status_code == 404
    assert (_state(service, alpha), _state(service, beta)) == before
