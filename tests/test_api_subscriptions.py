"""The spec's functions for subscriptions, invoices, payments and the portal."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

import nself_billing as nb
from nself_billing.api import use_billing


@pytest.fixture
def api(billing):
    use_billing(billing)
    yield nb
    use_billing(None)


def test_billing_get_subscription_is_the_spec_pipe_line(api, customer_id):
    sub_id, plan, status, start, end, cancel = api.billing_get_subscription().split("|")
    assert sub_id.startswith("sub_")
    assert (plan, status, start, end, cancel) == (
        "pro",
        "active",
        "2026-01-15",
        "2026-02-15",
        "false",
    )


def test_subscription_functions(api, customer_id, capsys):
    with pytest.raises(nb.InvalidInput):
        api.stripe_subscription_upgrade("starter")
    change = api.stripe_subscription_downgrade("starter")
    assert change.subscription.scheduled_plan_name == "starter"
    assert capsys.readouterr().out == "Downgrade scheduled: pro -> starter on 2026-02-15\n"
    api.stripe_subscription_cancel()
    assert api.billing_get_subscription().endswith("|true")
    api.stripe_subscription_reactivate()
    assert api.billing_get_subscription().endswith("|false")
    api.stripe_subscription_cancel("--immediate")
    with pytest.raises(nb.NotFound):
        api.billing_get_subscription()


def test_cycle_invoice_and_payment_functions(api, billing, customer_id, clock, capsys):
    clock.now = datetime(2026, 2, 15, 1, tzinfo=UTC)
    result = api.billing_cycle()
    assert result.total == Decimal("99.00")
    [invoice] = api.stripe_invoice_list()
    assert capsys.readouterr().out.splitlines()[1].endswith(" $99.00 open INV-000001")
    assert api.stripe_invoice_show(invoice.invoice_id).total == Decimal("99.00")
    method = api.stripe_payment_add(brand="visa", last4="4242", exp="12/2030")
    assert [m.payment_method_id for m in api.stripe_payment_list()] == [method.payment_method_id]
    assert api.stripe_invoice_pay(invoice.invoice_id).invoice.status == "paid"
    assert api.stripe_invoice_download(invoice.invoice_id).read_bytes()[:4] == b"%PDF"
    other = api.stripe_payment_add(token="tok_123")
    api.stripe_payment_set_default(other.payment_method_id)
    api.stripe_payment_remove(method.payment_method_id)
    capsys.readouterr()
    url = api.stripe_customer_portal()
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["Customer Portal URL:", url]
    assert url.startswith("http://127.0.0.1:8400/portal?token=")
