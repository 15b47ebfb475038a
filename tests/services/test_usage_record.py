from decimal import Decimal

import pytest

from nself_billing import InvalidInput, NotFound, UnknownService
from nself_billing.store.usage import period_totals


def test_same_idempotency_key_counts_once(billing, customer_id):
    first = billing.usage.record("api", 1, idempotency_key="k1")
    second = billing.usage.record("api", 1, idempotency_key="k1")
    assert (first.recorded, second.recorded) == (True, False)
    with billing.context.db.read() as conn:
        totals = period_totals(
            conn,
            customer_id,
            billing.context.clock().date(),
            billing.context.clock().date().replace(day=28),
        )
    assert totals["api"].quantity == Decimal("1")
    assert totals["api"].events == 1


def test_quantities_are_exact_to_six_places(billing, customer_id):
    for _ in range(10):
        billing.usage.record("compute", "0.1")
    with pytest.raises(InvalidInput, match="at most 6 decimal places"):
        billing.usage.record("compute", "0.0000004")
    with billing.context.db.read() as conn:
        day = billing.context.clock().date()
        totals = period_totals(conn, customer_id, day, day.replace(day=day.day + 1))
    assert totals["compute"].quantity == Decimal("1.000000")


@pytest.mark.parametrize(
    "service, quantity, metadata, error",
    [
        ("nope", 1, None, UnknownService),
        ("api", -1, None, InvalidInput),
        ("api", "abc", None, InvalidInput),
        ("api", "NaN", None, InvalidInput),
        ("api", 1, "{not json", InvalidInput),
        ("api", 1, "[1, 2]", InvalidInput),
    ],
)
def test_bad_input_is_rejected_and_nothing_written(
    billing, customer_id, service, quantity, metadata, error
):
    with pytest.raises(error):
        billing.usage.record(service, quantity, metadata)
    assert billing.queries.render("SELECT COUNT(*) FROM billing_usage_records") == "0"


def test_unknown_customer_is_rejected(billing, customer_id):
    with pytest.raises(NotFound):
        billing.usage.record("api", 1, customer_id="cus_nobody")
