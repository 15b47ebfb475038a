"""``consume_many``: a group of consume requests (the HTTP service's group commit) answers each
exactly as the same requests consumed one after the other would be answered."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from nself_billing.errors import InvalidInput, UnknownService
from nself_billing.services.quotas import ConsumeRequest, ConsumeResult
from nself_billing.store.tables import usage_daily, usage_records
from tests.support.racing import race, recorded_per_customer


def _other_customer(billing, name="cus_other0000001"):  # type: ignore[no-untyped-def]
    billing.customers.create(email=f"{name}@example.com", name="Other", customer_id=name)
    billing.subscriptions.start(name, "pro")
    return name


def _shape(answer):  # type: ignore[no-untyped-def]
    if isinstance(answer, ConsumeResult):
        return (answer.admitted, answer.recorded, answer.replayed, answer.usage)
    return type(answer)


def test_a_group_answers_as_requests_one_after_the_other(billing, customer_id):
    other = _other_customer(billing)
    billing.quotas.set_override("api", 10, mode="hard", customer_id=customer_id)
    billing.quotas.set_override("api", 2, mode="hard", customer_id=other)
    group = [
        ConsumeRequest("api", 3, customer_id=customer_id),
        ConsumeRequest("api", 3, {"n": 2}, "key-1", customer_id),
        ConsumeRequest("teleport", 1, customer_id=customer_id),
        ConsumeRequest("api", 2, customer_id=other),
        ConsumeRequest("api", 3, customer_id=customer_id),
        ConsumeRequest("api", 5, customer_id=customer_id),  # 14 > 10: refused
        ConsumeRequest("api", "-1", customer_id=customer_id),
        ConsumeRequest("api", 1, customer_id=customer_id),  # 10 exactly
        ConsumeRequest("api", 3, {"n": 2}, "key-1", customer_id),  # a replay: admitted again
        ConsumeRequest("api", 1, customer_id=other),  # 3 > 2: refused
        ConsumeRequest("storage", "0.5", customer_id=customer_id),  # soft: never refused
    ]
    answers = billing.quotas.consume_many(group)
    assert [_shape(a) for a in answers] == [
        (True, True, False, Decimal(3)),
        (True, True, False, Decimal(6)),
        UnknownService,
        (True, True, False, Decimal(2)),
        (True, True, False, Decimal(9)),
        (False, False, False, Decimal(9)),
        InvalidInput,
        (True, True, False, Decimal(10)),
        (True, False, True, None),
        (False, False, False, Decimal(2)),
        (True, True, False, Decimal("0.5")),
    ]
    assert answers[1].idempotency_key == answers[8].idempotency_key == "key-1"
    assert billing.quotas.status("api", customer_id=customer_id).usage == 10
    assert billing.quotas.status("api", customer_id=other).usage == 2
    with billing.context.db.read() as conn:
        events = conn.execute(select(func.count()).select_from(usage_records)).scalar_one()
        rolled = conn.execute(select(func.sum(usage_daily.c.quantity_micros))).scalar_one()
        metadata = conn.execute(
            select(usage_records.c.metadata).where(usage_records.c.idempotency_key == "key-1")
        ).scalar_one()
    assert (events, rolled) == (6, 12_500_000)
    assert metadata == {"n": 2}
    _, recorded = billing.quotas.alerts(customer_id=customer_id)
    assert [(a.service, a.threshold) for a in recorded if a.service == "api"] == [
        ("api", 75),
        ("api", 90),
        ("api", 100),
    ]


def test_a_group_that_cannot_be_written_is_consumed_request_by_request(billing, customer_id):
    if not billing.context.db.is_postgresql:
        pytest.skip("SQLite consumes a group one request at a time anyway")
    billing.quotas.set_override("api", 4, mode="hard", customer_id=customer_id)
    with billing.context.db.write() as conn:
        conn.execute(
            text(
                "ALTER PROCEDURE billing_quota_consume_many(jsonb, timestamptz, date,"
                " boolean, boolean, jsonb) RENAME TO billing_quota_consume_many_off"
            )
        )
    try:
        billing.quotas._reader.close()  # no statement prepared against the old name
        answers = billing.quotas.consume_many(
            [
                ConsumeRequest("api", 3, customer_id=customer_id),
                ConsumeRequest("api", 3, customer_id=customer_id),
                ConsumeRequest("api", 1, customer_id=customer_id),
            ]
        )
    finally:
        with billing.context.db.write() as conn:
            conn.execute(
                text(
                    "ALTER PROCEDURE billing_quota_consume_many_off(jsonb,"
                    " timestamptz, date, boolean, boolean, jsonb)"
                    " RENAME TO billing_quota_consume_many"
                )
            )
        billing.quotas._reader.close()
    assert [_shape(a) for a in answers] == [
        (True, True, False, Decimal(3)),
        (False, False, False, Decimal(3)),
        (True, True, False, Decimal(4)),
    ]
    assert billing.quotas.status("api", customer_id=customer_id).usage == 4


PROCESSES = 4
ROUNDS = 10
LIMIT = 5


def _group_racer(env, customers, barrier, results, worker):  # type: ignore[no-untyped-def]
    from nself_billing import Billing

    admitted = 0
    with Billing.from_env(env, migrate=False) as billing:
        for customer in customers:
            billing.quotas.limits(customer)
        for round_ in range(ROUNDS):
            # every process asks for every customer at once, each in its own order, so groups
            # need each other's locks: taken in one global order, they never deadlock
            order = customers[worker:] + customers[:worker]
            group = [
                ConsumeRequest("api", 1, {"w": worker}, f"{c}-{round_}-{worker}-{i}", c)
                for c in order
                for i in range(2)
            ]
            barrier.wait()
            admitted += sum(a.admitted for a in billing.quotas.consume_many(group))
    results.put(admitted)


def test_racing_groups_never_pass_a_hard_limit(billing, customer_id, env):
    customers = []
    for i in range(4):
        made = _other_customer(billing, f"cus_group{i:04d}")
        billing.quotas.set_override("api", LIMIT * ROUNDS, mode="hard", customer_id=made)
        customers.append(made)
    admitted = race(_group_racer, env, customers, PROCESSES)
    # 4 processes x 10 rounds x 2 requests = 80 asked per customer, 50 fit
    assert sum(admitted) == LIMIT * ROUNDS * len(customers)
    per_customer, rolled = recorded_per_customer(billing)
    assert per_customer == {c: LIMIT * ROUNDS for c in customers}
    assert rolled == {c: LIMIT * ROUNDS * 1_000_000 for c in customers}
