"""The price list, the stored price and the billed amount agree for every plan and service;
a plans.toml the store cannot keep exactly is refused."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from nself_billing.bootstrap import apply_plans_file
from nself_billing.domain.plans import DEFAULT_PLANS
from nself_billing.errors import ConfigError, InvalidInput

D = Decimal


def utc(*args):  # type: ignore[no-untyped-def]
    return datetime(*args, tzinfo=UTC)


def test_every_default_price_is_stored_exactly(billing):
    stored = {
        (q.plan_name, q.service): q.overage_price for p in billing.plans.list() for q in p.quotas
    }
    listed = {(q.plan_name, q.service): q.overage_price for p in DEFAULT_PLANS for q in p.quotas}
    assert stored == listed
    assert stored["pro", "database"] == D("0.0000015")
    assert str(stored["pro", "database"]) == "0.0000015"
    assert str(stored["starter", "api"]) == "0.000010"


def test_pro_database_overage_bills_one_fifty_per_million(billing, customer_id, clock):
    billing.usage.record("database", 6_000_000, customer_id=customer_id, at=utc(2026, 1, 20))
    clock.now = utc(2026, 2, 15, 0, 5)
    [invoice_id] = billing.cycle.run().invoice_ids
    [overage] = [
        line for line in billing.invoices.get(customer_id, invoice_id).lines if line.service
    ]
    assert (overage.service, overage.quantity, overage.unit_price, overage.amount) == (
        "database",
        D("1000000"),
        D("0.0000015"),
        D("1.50"),
    )


def _apply(billing, root, text):  # type: ignore[no-untyped-def]
    (root / "plans.toml").write_text(text)
    return apply_plans_file(billing, force=True)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            'overage_price = "0.0000000015"',
            "Invalid plans.toml [plans.pro] quotas.api overage_price: '0.0000000015' has more "
            "than 9 decimal places (the store keeps 9; a number is never rounded)",
        ),
        ("limit = 1.0000005", "quotas.api limit: Decimal('1.0000005') has more than 6"),
    ],
)
def test_a_number_the_store_would_round_is_refused(billing, root, line, message):
    with pytest.raises(ConfigError, match=None) as raised:
        _apply(billing, root, f"[plans.pro.quotas.api]\n{line}\n")
    assert message in raised.value.message
    assert billing.plans.get("pro").quota_for("api").overage_price == D("0.000008")


def test_a_plan_price_with_fractions_of_a_cent_is_refused(billing, root):
    with pytest.raises(ConfigError) as raised:
        _apply(billing, root, '[plans.pro]\nprice_monthly = "99.999"\n')
    assert "price_monthly: '99.999' has more than 2 decimal places" in raised.value.message


def test_a_new_plan_names_every_service(billing, root):
    with pytest.raises(ConfigError) as raised:
        _apply(billing, root, "[plans.team]\ntier = 7\n[plans.team.quotas.api]\nlimit = 5\n")
    assert raised.value.message == (
        "Invalid plans.toml [plans.team]: a new plan names every service; missing storage, "
        'bandwidth, compute, database, functions (write limit = "unlimited" for no limit)'
    )
    assert "team" not in {plan.name for plan in billing.plans.list()}


def test_an_existing_plan_keeps_the_services_the_file_omits(billing, root):
    _apply(billing, root, "[plans.pro.quotas.api]\nlimit = 2000000\n")
    pro = billing.plans.get("pro")
    assert pro.quota_for("api").limit == D("2000000")
    assert pro.quota_for("storage").limit == D("100")


def test_two_plans_of_one_tier_are_refused(billing, root):
    services = "".join(
        f'[plans.team.quotas.{s}]\nlimit = "unlimited"\n'
        for s in ("api", "storage", "bandwidth", "compute", "database", "functions")
    )
    with pytest.raises(ConfigError) as raised:
        _apply(billing, root, "[plans.team]\nprice_monthly = 49\ntier = 2\n" + services)
    assert raised.value.message.startswith(
        "Invalid plans.toml: plans pro and team share tier 2 (tier ranks plans for upgrades"
    )


def test_an_override_price_is_kept_exactly_or_refused(billing, customer_id):  # type: ignore[no-untyped-def]
    billing.quotas.set_override("database", 100, overage_price="0.0000015", customer_id=customer_id)
    assert billing.quotas.limits(customer_id, fresh=True).quotas["database"].overage_price == D(
        "0.0000015"
    )
    with pytest.raises(InvalidInput, match="more than 9 decimal places"):
        billing.quotas.set_override(
            "database", 100, overage_price="0.0000000015", customer_id=customer_id
        )
