"""The invoice PDF as a customer reads it: the seller, the number beside the id, dates,
currency, lines, totals and how to pay. Its text is extracted (pypdf) and its page rendered to
an image (pdftoppm, Debian's poppler-utils), kept under test-artifacts/ to look at."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nself_billing import Billing

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SELLER = {
    "BILLING_SELLER_NAME": "Acme Hosting Ltd",
    "BILLING_SELLER_ADDRESS": "1 Harbour Street; Dublin D02 XY45; Ireland",
    "BILLING_SELLER_TAX_ID": "IE1234567T",
    "BILLING_SELLER_EMAIL": "billing@acme.example",
    "BILLING_PAYMENT_INSTRUCTIONS": "Bank transfer: IBAN IE29 AIBK 9311 5212 3456 78, BIC AIBKIE2D",
    "BILLING_INVOICE_PREFIX": "ACME",
    "BILLING_INVOICE_DUE_DAYS": "14",
}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)


def pdftoppm() -> str:
    found = shutil.which("pdftoppm")
    if found is None:
        message = "pdftoppm not found (apt-get install poppler-utils)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (required in CI)", pytrace=False)
        pytest.skip(message)
    return found


@pytest.fixture
def seller_billing(env, clock):
    with Billing.from_env({**env, **SELLER}, clock=clock) as billing:
        billing.customers.create(
            email="jane@tenant.example", name="Tenant GmbH", customer_id="cus_tenant"
        )
        billing.subscriptions.start("cus_tenant", "pro")
        billing.usage.record("api", 1_250_000, customer_id="cus_tenant", at=utc(2026, 1, 20))
        yield billing


def test_the_pdf_names_seller_number_dates_currency_and_how_to_pay(seller_billing, clock, backend):
    billing = seller_billing
    billing.payment_methods.add("cus_tenant", brand="visa", last4="4242", expiry="12/2030")
    clock.now = utc(2026, 2, 15, 1)
    [invoice_id] = billing.cycle.run().invoice_ids
    path = billing.invoices.download("cus_tenant", invoice_id)
    text = pdf_text(path)
    for expected in (
        "Acme Hosting Ltd",
        "1 Harbour Street",
        "Dublin D02 XY45",
        "Tax ID: IE1234567T",
        "billing@acme.example",
        "ACME-000001",
        invoice_id,
        "Tenant GmbH",
        "jane@tenant.example",
        "Date of issue 2026-02-15",
        "Date due 2026-03-01",
        "Currency USD",
        "$101.00 USD due 2026-03-01",
        "Pro plan (2026-01-15 to 2026-02-14)",
        "api overage: 250000 requests beyond 1000000 at $0.000008",
        "Amount due (USD) $101.00",
        "charged to your Visa **** 4242",
        "IBAN IE29 AIBK 9311 5212 3456 78",
        "quote the invoice number ACME-000001",
    ):
        assert expected in text, expected

    ARTIFACTS.mkdir(exist_ok=True)
    stem = ARTIFACTS / f"invoice-{backend}"
    subprocess.run(
        [pdftoppm(), "-png", "-r", "80", "-singlefile", str(path), str(stem)],
        check=True,
        timeout=60,
    )
    image = stem.with_suffix(".png")
    assert image.read_bytes().startswith(b"\x89PNG")
    assert image.stat().st_size > 20_000  # a page with text, not a blank one


def test_a_paid_invoice_says_so_and_an_unconfigured_seller_is_named(billing, customer_id, clock):
    clock.now = utc(2026, 2, 15, 1)
    [invoice_id] = billing.cycle.run().invoice_ids
    billing.payment_methods.add(customer_id, brand="visa", last4="4242", expiry="12/2030")
    billing.invoices.pay(customer_id, invoice_id)
    text = pdf_text(billing.invoices.download(customer_id, invoice_id))
    assert "Paid: $99.00 USD" in text
    assert "Paid on 2026-02-15. Thank you." in text
    assert "Amount due (USD) $0.00" in text
    assert "INV-000001" in text
    assert "(seller not configured)" in text and "BILLING_SELLER_* variables" in text
