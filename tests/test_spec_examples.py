"""The spec's own examples of its functions run with the spec's arguments."""

import pytest

import nself_billing as nb
from nself_billing.api import use_billing


@pytest.fixture
def api(billing):  # type: ignore[no-untyped-def]
    use_billing(billing)
    yield nb
    use_billing(None)


def test_check_quota_takes_the_spec_example_of_a_gigabyte_in_bytes(api, billing, customer_id):
    # quantities are in the service's unit (GB-hours for storage): 1073741824 GB-hours exceeds
    # pro's 100 and fits enterprise's unlimited storage; it is never refused as too large
    assert api.billing_check_quota("storage", 1073741824) == 1
    assert api.billing_check_quota("storage", 1) == 0
    assert api.quota_enforce("storage", 1073741824) == 0  # pro's storage limit is soft
    billing.quotas.set_override("storage", "unlimited", customer_id=customer_id)
    assert api.billing_check_quota("storage", 1073741824) == 0


def test_customer_update_takes_the_bash_options(api, customer_id):
    assert api.stripe_customer_update("--email=new@example.com").email == "new@example.com"
    assert api.stripe_customer_update("--name", "New Name").name == "New Name"
    with pytest.raises(nb.InvalidInput, match=r"^Unknown option: --mail=x \(expected --email"):
        api.stripe_customer_update("--mail=x")
    with pytest.raises(nb.InvalidInput, match="^Invalid email: x$"):
        api.stripe_customer_update("--email=x")


def test_payment_add_without_arguments_prints_the_instructions(api, customer_id, capsys):
    assert api.stripe_payment_add() is None
    assert capsys.readouterr().out.splitlines()[:3] == [
        "Add Payment Method",
        "Please use the customer portal to add payment methods securely:",
        "nself tenant billing customer portal",
    ]
    assert api.stripe_payment_list() == []


def test_webhook_test_without_a_secret_prints_the_spec_lines_and_warns(api, capsys):
    assert api.stripe_webhook_test() is None
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "Testing webhook endpoint",
        "Webhook URL: http://127.0.0.1:8400/api/webhooks/stripe",
        "Configure this URL in your Stripe Dashboard",
    ]
    assert captured.err.startswith("Warning: STRIPE_WEBHOOK_SECRET is not set")
