"""Email over a real SMTP server on loopback (aiosmtpd): the receipt of a paid invoice with its
PDF, the cycle's invoices, quota alerts when turned on, and an outage that delays mail and
loses none."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from pypdf import PdfReader

from nself_billing import Billing
from nself_billing.errors import ConfigError, ProviderError

from ..support.receivers import smtp_env, smtp_server


@pytest.fixture
def mail(env, clock) -> Iterator[tuple]:  # type: ignore[no-untyped-def]
    with smtp_server() as (mailbox, port):
        handle = Billing.from_env({**env, **smtp_env(port)}, clock=clock)
        try:
            yield handle, mailbox, port
        finally:
            handle.close()


def _customer(billing: Billing, plan: str = "pro") -> str:
    billing.customers.create(email="jane@example.com", name="Jane Doe", customer_id="cus_jane")
    billing.subscriptions.start("cus_jane", plan)
    billing.payment_methods.add("cus_jane", brand="visa", last4="4242", expiry="12/30")
    return "cus_jane"


def _pdf_of(message) -> bytes:  # type: ignore[no-untyped-def]
    (attachment,) = [part for part in message.iter_attachments()]
    assert attachment.get_content_type() == "application/pdf"
    return attachment.get_content()


def test_paying_an_invoice_emails_the_receipt_with_its_pdf(mail, clock):
    billing, mailbox, _ = mail
    customer_id = _customer(billing, "starter")
    change = billing.subscriptions.upgrade(customer_id, "pro")
    assert change.invoice is not None
    billing.invoices.pay(customer_id, change.invoice.invoice_id)
    result = billing.notify.send()

    assert result.sent == 2  # the upgrade's invoice, then its receipt
    invoice_mail, receipt = mailbox.messages
    assert invoice_mail["Subject"].startswith(f"Invoice {change.invoice.invoice_id}")
    assert receipt["To"] == "jane@example.com"
    assert receipt["From"] == "billing@example.com"
    assert receipt["Subject"] == (
        f"Receipt for invoice {change.invoice.invoice_id} (${change.invoice.total})"
    )
    text = receipt.get_body(("plain",)).get_content()
    html = receipt.get_body(("html",)).get_content()
    assert f"we received your payment of ${change.invoice.total}" in text
    assert "<strong>$" in html and "Jane Doe" in html
    pdf = _pdf_of(receipt)
    assert pdf.startswith(b"%PDF")
    page_text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert change.invoice.invoice_id in page_text
    assert "paid" in page_text


def test_the_cycle_emails_each_invoice(mail, clock):
    billing, mailbox, _ = mail
    _customer(billing)
    clock.advance(days=32)
    ran = billing.cycle.run()
    billing.notify.send()
    assert [m["Subject"].split(" (")[0] for m in mailbox.messages] == [
        f"Invoice {ran.invoice_ids[0]}"
    ]
    assert _pdf_of(mailbox.messages[0]).startswith(b"%PDF")


def test_quota_alerts_are_emailed_only_when_turned_on(env, clock):
    with smtp_server() as (mailbox, port):
        for turned_on in ("0", "1"):
            handle = Billing.from_env(
                {**env, **smtp_env(port), "BILLING_EMAIL_QUOTA_ALERTS": turned_on}, clock=clock
            )
            try:
                cid = f"cus_q{turned_on}"
                handle.customers.create(email=f"{cid}@example.com", customer_id=cid)
                handle.subscriptions.start(cid, "pro")
                handle.quotas.set_override("api", 4, mode="hard", customer_id=cid)
                for _ in range(3):
                    handle.quotas.consume("api", 1, customer_id=cid)
                handle.notify.send()
            finally:
                handle.close()
    assert [(m["To"], m["Subject"]) for m in mailbox.messages] == [
        ("cus_q1@example.com", "api reached 75% of its quota")
    ]


def test_a_mail_server_outage_delays_mail_and_loses_none(env, clock):
    with smtp_server() as (_, port):
        pass  # the port is now closed: the mail server is down
    billing = Billing.from_env({**env, **smtp_env(port)}, clock=clock)
    try:
        customer_id = _customer(billing, "starter")
        change = billing.subscriptions.upgrade(customer_id, "pro")
        assert change.invoice is not None
        billing.invoices.pay(customer_id, change.invoice.invoice_id)
        down = billing.notify.send()
        assert (down.sent, down.retried) == (0, 1)
        assert len(billing.notify.deliveries(status="pending")) == 2
        with smtp_server(port) as (mailbox, _):
            clock.advance(minutes=1)
            up = billing.notify.send()
        assert up.sent == 2
        assert [m["Subject"].split(" ")[0] for m in mailbox.messages] == ["Invoice", "Receipt"]
    finally:
        billing.close()


def test_email_test_sends_now_and_names_a_bad_configuration(mail, env):
    billing, mailbox, _ = mail
    billing.notify.email_test("ops@example.com")
    assert mailbox.messages[0]["Subject"] == "nself-billing test email"
    unconfigured = Billing.from_env(env)
    try:
        with pytest.raises(ConfigError, match="SMTP is not configured"):
            unconfigured.notify.email_test("ops@example.com")
    finally:
        unconfigured.close()


def test_an_unreachable_mail_server_is_one_clear_error(env):
    with smtp_server() as (_, port):
        pass
    billing = Billing.from_env({**env, **smtp_env(port)})
    try:
        with pytest.raises(ProviderError, match="^SMTP error: ConnectionRefusedError"):
            billing.notify.email_test("ops@example.com")
    finally:
        billing.close()


def test_starttls_the_default_is_used_and_the_certificate_checked(env, tmp_path, monkeypatch):
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with smtp_server(tls_context=context) as (mailbox, port):
        settings = {**smtp_env(port), "SMTP_SECURITY": "starttls"}
        untrusted = Billing.from_env({**env, **settings})
        try:
            with pytest.raises(ProviderError, match="CERTIFICATE_VERIFY_FAILED"):
                untrusted.notify.email_test("ops@example.com")
        finally:
            untrusted.close()
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the operator's CA bundle
        trusted = Billing.from_env({**env, **settings})
        try:
            trusted.notify.email_test("ops@example.com")
        finally:
            trusted.close()
    assert [m["To"] for m in mailbox.messages] == ["ops@example.com"]
