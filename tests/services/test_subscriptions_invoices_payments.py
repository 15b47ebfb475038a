"""Invoices (show, PDF, pay), payment method references and portal links."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from nself_billing import Conflict, InvalidInput, NotFound
from nself_billing.services.portal_links import issue_token, portal_secret, verify_token


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def invoice_id(billing, customer_id, clock):
    clock.now = utc(2026, 2, 15, 1)
    [made] = billing.cycle.run().invoice_ids
    return made


def test_paying_needs_a_payment_method_and_happens_once(billing, customer_id, invoice_id):
    with pytest.raises(InvalidInput, match="^No payment method on file"):
        billing.invoices.pay(customer_id, invoice_id)
    method = billing.payment_methods.add(customer_id, brand="visa", last4="4242", expiry="12/2030")
    result = billing.invoices.pay(customer_id, invoice_id)
    assert (result.already_paid, result.invoice.status) == (False, "paid")
    assert result.payment.payment_method_id == method.payment_method_id
    assert result.payment.amount == Decimal("99.00")
    again = billing.invoices.pay(customer_id, invoice_id)
    assert again.already_paid is True
    assert billing.queries.render("SELECT COUNT(*), SUM(amount) FROM billing_payments") in (
        "1|99.00",
        "1|99",
    )


def test_unknown_invoice_and_other_customers_invoices_are_not_found(
    billing, customer_id, invoice_id
):
    with pytest.raises(NotFound, match="^Invoice not found: in_nope$"):
        billing.invoices.get(customer_id, "in_nope")
    billing.customers.create(email="o@example.com", name="Other", customer_id="cus_other")
    with pytest.raises(NotFound):
        billing.invoices.pay("cus_other", invoice_id)


def test_invoice_pdf_holds_customer_period_lines_and_total(billing, customer_id, invoice_id, root):
    from pypdf import PdfReader

    path = billing.invoices.download(customer_id, invoice_id)
    assert path == root / ".nself" / "billing" / "exports" / f"{invoice_id}.pdf"
    assert path.read_bytes().startswith(b"%PDF-")
    content = PdfReader(str(path)).pages[0].extract_text()
    for expected in (
        f"Invoice ID {invoice_id}",
        "Invoice number INV-000001",
        "John Doe",
        "2026-01-15 to 2026-02-14",
        "Pro plan (2026-01-15 to 2026-02-14)",
        "$99.00",
        "Total",
    ):
        assert expected in content
    assert not list(path.parent.glob("*.part"))


def test_first_method_is_default_and_the_only_default_cannot_go(billing, customer_id):
    first = billing.payment_methods.add(customer_id, brand="visa", last4="4242", expiry="12/2030")
    assert first.is_default
    with pytest.raises(
        Conflict, match="^Cannot remove the default payment method: it is the only one"
    ):
        billing.payment_methods.remove(customer_id, first.payment_method_id)
    second = billing.payment_methods.add(customer_id, reference="tok_visa_abc")
    assert not second.is_default
    billing.payment_methods.set_default(customer_id, second.payment_method_id)
    methods = {m.payment_method_id: m.is_default for m in billing.payment_methods.list(customer_id)}
    assert methods == {first.payment_method_id: False, second.payment_method_id: True}
    billing.payment_methods.remove(customer_id, second.payment_method_id)
    [left] = billing.payment_methods.list(customer_id)
    assert (left.payment_method_id, left.is_default) == (first.payment_method_id, True)
    with pytest.raises(NotFound, match="^Payment method not found: pm_nope$"):
        billing.payment_methods.set_default(customer_id, "pm_nope")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reference": "4242424242424242"}, "That looks like a card number"),
        ({"reference": "tok 4242 4242 4242 4242"}, "That looks like a card number"),
        ({"brand": "visa", "last4": "424242", "expiry": "12/2030"}, "Invalid last4"),
        ({"brand": "visa", "last4": "4242", "expiry": "12/2020"}, "Card expired: 12/2020"),
        ({"brand": "bitcoin", "last4": "4242", "expiry": "12/2030"}, "Invalid brand: bitcoin"),
        ({}, "Give --brand, --last4 and --exp, or --token"),
    ],
)
def test_card_numbers_and_bad_references_are_refused(billing, customer_id, kwargs, message):
    with pytest.raises(InvalidInput, match=f"^{message}"):
        billing.payment_methods.add(customer_id, **kwargs)
    assert billing.payment_methods.list(customer_id) == []


def test_portal_link_is_signed_and_expires(billing, customer_id, clock):
    link = billing.portal.link(customer_id)
    assert link.url.startswith("http://127.0.0.1:8400/portal?token=")
    token = link.url.split("token=", 1)[1]
    assert billing.portal.verify(token) == customer_id
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    with pytest.raises(InvalidInput, match="^Invalid portal token$"):
        billing.portal.verify(forged)
    clock.advance(hours=1)
    with pytest.raises(InvalidInput, match="^Portal link expired"):
        billing.portal.verify(token)


def test_portal_secret_is_generated_once_and_private(billing):
    settings = billing.settings
    first = portal_secret(settings)
    assert portal_secret(settings) == first
    assert (settings.data_dir / "portal.secret").stat().st_mode & 0o077 == 0
    token = issue_token(first, "cus_x", utc(2030, 1, 1))
    assert verify_token(first, token, utc(2029, 1, 1)) == "cus_x"
    with pytest.raises(InvalidInput):
        verify_token(b"another secret", token, utc(2029, 1, 1))


def test_portal_uses_the_configured_base_url_and_secret(env, clock):
    from nself_billing import Billing

    env = env | {
        "NSELF_BASE_URL": "https://billing.example.com/",
        "BILLING_PORTAL_SECRET": "s3cret",
    }
    with Billing.from_env(env, clock=clock) as billing:
        billing.customers.create(email="p@example.com", name="P", customer_id="cus_p")
        link = billing.portal.link("cus_p")
        assert link.url.startswith("https://billing.example.com/portal?token=")
        assert link.expires_at == clock.now + timedelta(hours=1)
        token = link.url.split("token=", 1)[1]
        assert verify_token(b"s3cret", token, clock.now) == "cus_p"
