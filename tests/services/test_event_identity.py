"""One event identity through the library: an event is the pair (customer, id), whatever entry
point wrote it; every quantity is read by the one parser; a consume replay must repeat what the
id first recorded; text neither backend can store alike is refused (issue 14)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nself_billing import BufferedRecorder, IdempotencyConflict, InvalidInput, UsageEvent
from nself_billing.services.quotas import ConsumeRequest, ConsumeResult

A, B = "cus_tenant_a", "cus_tenant_b"
ABSURD = [1e30, "1e30", 1e308, "1e308", float("nan"), "NaN", "-Infinity", float("-inf"), 1e-30]


@pytest.fixture
def tenants(billing):
    for customer in (A, B):
        billing.customers.create(email=f"{customer}@example.com", customer_id=customer)
        billing.subscriptions.start(customer, "pro")
    return A, B


def _events(billing) -> list[tuple[str, str, int, str]]:
    with billing.context.db.read() as conn:
        return [
            tuple(row)
            for row in conn.exec_driver_sql(
                "SELECT customer_id, service_name, quantity_micros, idempotency_key"
                " FROM billing_usage_records ORDER BY customer_id, idempotency_key"
            )
        ]


def _rolled(billing) -> dict[tuple[str, str], tuple[int, int]]:
    with billing.context.db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT customer_id, service_name, SUM(quantity_micros), SUM(events)"
            " FROM billing_usage_daily GROUP BY customer_id, service_name"
        ).all()
    return {(c, s): (int(q), int(e)) for c, s, q, e in rows}


def test_two_tenants_sharing_an_id_each_get_their_event_through_every_entry_point(billing, tenants):
    for customer, quantity in ((A, 5), (B, 9)):
        assert billing.usage.record(
            "api", quantity, customer_id=customer, idempotency_key="k1"
        ).recorded
        batch = billing.usage.record_many(
            [UsageEvent("storage", quantity, idempotency_key="k2", customer_id=customer)]
        )
        assert batch.accepted == 1
        assert billing.quotas.consume(
            "compute", quantity, idempotency_key="k3", customer_id=customer
        ).recorded
        with BufferedRecorder(billing, customer_id=customer) as recorder:
            recorder.record("bandwidth", quantity, idempotency_key="k4")
    [many_a, many_b] = billing.quotas.consume_many(
        [ConsumeRequest("database", 1, None, "k5", A), ConsumeRequest("database", 1, None, "k5", B)]
    )
    assert isinstance(many_a, ConsumeResult) and many_a.recorded
    assert isinstance(many_b, ConsumeResult) and many_b.recorded
    stored = _events(billing)
    assert [(c, k) for c, _, _, k in stored] == [
        (customer, key) for customer in (A, B) for key in ("k1", "k2", "k3", "k4", "k5")
    ]
    assert {(c, s): q for c, s, q, _ in stored if s == "api"} == {
        (A, "api"): 5_000_000,
        (B, "api"): 9_000_000,
    }
    # and a replay is one event, for its own customer only
    assert not billing.usage.record("api", 5, customer_id=A, idempotency_key="k1").recorded
    assert billing.quotas.consume("compute", 5, idempotency_key="k3", customer_id=A).replayed
    assert len(_events(billing)) == 10
    assert _rolled(billing)[(B, "api")] == (9_000_000, 1)


def test_a_key_with_the_other_tenants_prefix_is_just_an_id(billing, tenants):
    """Nothing is joined: A's id 'cus_tenant_b:k' and B's id 'k' are two events."""
    billing.usage.record("api", 1, customer_id=A, idempotency_key=f"{B}:k")
    assert billing.usage.record("api", 1, customer_id=B, idempotency_key="k").recorded
    assert billing.quotas.consume("api", 1, idempotency_key="k", customer_id=A).recorded
    assert len(_events(billing)) == 3


def test_a_batch_naming_the_current_customer_and_not_naming_it_is_one_event(billing, customer_id):
    result = billing.usage.record_many(
        [
            UsageEvent("api", 1, idempotency_key="same"),
            UsageEvent("api", 1, idempotency_key="same", customer_id=customer_id),
        ]
    )
    assert (result.accepted, result.duplicates) == (1, 1)


@pytest.mark.parametrize("quantity", ABSURD)
def test_every_library_entry_point_refuses_an_absurd_quantity(billing, customer_id, quantity):
    with pytest.raises(InvalidInput, match="Invalid quantity"):
        billing.usage.record("api", quantity)
    with pytest.raises(InvalidInput, match="Event 1: Invalid quantity"):
        billing.usage.record_many([UsageEvent("api", quantity)])
    with pytest.raises(InvalidInput, match="Invalid quantity"):
        billing.quotas.consume("api", quantity)
    if quantity == 1e-30:  # a question stores nothing: rounded to 6 places, as tracking does
        assert billing.quotas.check("api", quantity) is True
        assert billing.quotas.enforce("api", quantity).quantity_micros == 0
    else:
        with pytest.raises(InvalidInput, match="Invalid quantity"):
            billing.quotas.check("api", quantity)
        with pytest.raises(InvalidInput, match="Invalid quantity"):
            billing.quotas.enforce("api", quantity)
    with pytest.raises(InvalidInput, match="Invalid limit"):
        billing.quotas.set_override("api", quantity)
    with pytest.raises(InvalidInput, match="Invalid overage price"):
        billing.quotas.set_override("api", 10, overage_price=quantity)
    with BufferedRecorder(billing) as recorder, pytest.raises(InvalidInput):
        recorder.record("api", quantity)
    assert _events(billing) == []


def test_a_tracker_past_the_largest_quantity_is_refused(billing, customer_id):
    with pytest.raises(InvalidInput, match="too large"):
        billing.usage.track_storage(10**40, 1)
    assert billing.usage.track_bandwidth(52428800).recorded  # 0.048828125 GB, rounded half-up
    assert _events(billing)[0][2] == 48_828


def test_a_group_with_a_poisoned_request_writes_every_other_request_once(billing, tenants):
    requests = [ConsumeRequest("api", 1, None, f"b-{i}", B) for i in range(3)]
    requests.insert(1, ConsumeRequest("api", 1e30, None, "poison", A))
    requests.insert(3, ConsumeRequest("api", 1, {"bad": "\x00"}, "poison-2", A))
    answers = billing.quotas.consume_many(requests)
    assert [type(a).__name__ for a in answers] == [
        "ConsumeResult",
        "InvalidInput",
        "ConsumeResult",
        "InvalidInput",
        "ConsumeResult",
    ]
    assert [k for _, _, _, k in _events(billing)] == ["b-0", "b-1", "b-2"]
    assert _rolled(billing) == {(B, "api"): (3_000_000, 3)}


def test_a_consume_replay_must_repeat_the_first_request(billing, customer_id):
    billing.quotas.set_override("api", 10, mode="hard")
    first = billing.quotas.consume("api", 10, idempotency_key="pay-1")
    assert first.recorded
    # the hard limit is full: a replay of the same request is admitted, never recounted
    assert billing.quotas.consume("api", 10, idempotency_key="pay-1").replayed
    assert not billing.quotas.consume("api", 1).admitted
    for service, quantity in (("api", 1), ("api", "10.5"), ("compute", 10)):
        with pytest.raises(IdempotencyConflict, match="pay-1"):
            billing.quotas.consume(service, quantity, idempotency_key="pay-1")
    answers = billing.quotas.consume_many(
        [ConsumeRequest("api", 2, None, "pay-1"), ConsumeRequest("api", 10, None, "pay-1")]
    )
    assert isinstance(answers[0], IdempotencyConflict)
    assert isinstance(answers[1], ConsumeResult) and answers[1].replayed
    assert billing.quotas.status("api").usage == Decimal("10")
    assert len(_events(billing)) == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda b: b.usage.record("api", 1, idempotency_key="dup\x00two"),
        lambda b: b.usage.record("api", 1, idempotency_key="bad\ud800"),
        lambda b: b.usage.record("api", 1, {"k": "nul\x00"}),
        lambda b: b.usage.record("api", 1, {"nul\x00": 1}),
        lambda b: b.usage.record("api", 1, {"k": ["\udcff"]}),
        lambda b: b.usage.record_many([UsageEvent("api", 1, {"k": "\x00"})]),
        lambda b: b.quotas.consume("api", 1, idempotency_key="dup\x00two"),
        lambda b: b.quotas.consume("api", 1, {"k": "\x00"}),
        lambda b: b.quotas.consume("api", 1, idempotency_key="\ud800"),
    ],
)
def test_nul_and_lone_surrogates_are_invalid_input_on_both_backends(billing, customer_id, call):
    with pytest.raises(InvalidInput):
        call(billing)
    assert _events(billing) == []


def test_valid_unicode_is_stored_as_given(billing, customer_id):
    billing.usage.record("api", 1, {"emoji": "😀", "é": "ü"}, idempotency_key="ключ-😀")
    assert _events(billing)[0][3] == "ключ-😀"


def test_a_group_of_usage_requests_answers_each_as_if_alone(billing, tenants):
    """``ingest_many`` (the HTTP service's group of small ``POST /v1/usage`` requests): an id
    of an earlier request of the group, or seen before, is a duplicate; an invalid request and
    one naming an unknown customer fail alone; every other event is stored once."""
    from nself_billing.services.ingest import IngestRequest, IngestResult, InvalidEvents

    billing.ingest.ingest([{"service": "api", "quantity": 1, "id": "seen"}], caller_customer_id=A)
    one = {"service": "api", "quantity": 2}
    answers = billing.ingest.ingest_many(
        [
            IngestRequest([{**one, "id": "k1"}, {**one, "id": "k2"}, {**one, "id": "k1"}], A),
            IngestRequest([{**one, "id": "k2"}, {**one, "id": "seen"}, {**one, "id": "k3"}], A),
            IngestRequest([{**one, "id": "k1"}], B),  # another customer's k1: another event
            IngestRequest([{**one, "id": "bad", "quantity": "1e30"}], A),
            IngestRequest([{**one, "id": "k9", "customer_id": "cus_nobody"}], None),
            IngestRequest([{**one, "id": "k4"}], A),
        ]
    )
    assert answers[:3] == [IngestResult(3, 2, 1), IngestResult(3, 1, 2), IngestResult(1, 1, 0)]
    assert isinstance(answers[3], InvalidEvents)
    assert isinstance(answers[4], InvalidEvents) and "cus_nobody" in str(answers[4].errors)
    assert answers[5] == IngestResult(1, 1, 0)
    stored = [(c, k) for c, _, _, k in _events(billing)]
    assert stored == [(A, "k1"), (A, "k2"), (A, "k3"), (A, "k4"), (A, "seen"), (B, "k1")]
    assert _rolled(billing) == {(A, "api"): (9_000_000, 5), (B, "api"): (2_000_000, 1)}


def test_small_record_many_batches_take_the_single_event_path_alike(billing, tenants):
    """``record_many`` and ``BufferedRecorder`` of a few events: duplicates counted once, an
    unknown customer refused (``skip_invalid``) while the others are stored."""
    first = billing.usage.record_many(
        [UsageEvent("api", 1, idempotency_key=k) for k in ("r1", "r2", "r1")], customer_id=A
    )
    assert (first.accepted, first.duplicates) == (2, 1)
    mixed = billing.usage.record_many(
        [
            {"service": "api", "quantity": 1, "idempotency_key": "r2", "customer_id": A},
            {"service": "api", "quantity": 1, "idempotency_key": "r3", "customer_id": A},
            {"service": "api", "quantity": 1, "idempotency_key": "r4", "customer_id": "cus_x"},
        ],
        skip_invalid=True,
    )
    assert (mixed.accepted, mixed.duplicates, len(mixed.rejected)) == (1, 1, 1)
    with BufferedRecorder(billing, customer_id=B) as recorder:
        for key in ("b1", "b2", "b1"):
            recorder.record("api", 1, idempotency_key=key)
    stored = [(c, k) for c, _, _, k in _events(billing)]
    assert stored == [(A, "r1"), (A, "r2"), (A, "r3"), (B, "b1"), (B, "b2")]
    assert _rolled(billing) == {(A, "api"): (3_000_000, 3), (B, "api"): (2_000_000, 2)}
