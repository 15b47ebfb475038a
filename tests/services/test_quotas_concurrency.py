"""Processes racing ``consume`` at a hard limit: exactly the limit is admitted, and every
admitted unit is recorded (raw events and rollups), on real SQLite and real PostgreSQL.

Each round is a fresh customer with a small hard limit that every process hits at the same
moment (a barrier per round), so the race at the boundary happens many times per run."""

from sqlalchemy import func, select

from nself_billing.store.tables import quota_alerts
from tests.support.racing import race, recorded_per_customer

PROCESSES = 4
ROUNDS = 25
ATTEMPTS_PER_ROUND = 4
LIMIT = 5


def _racer(env, customers, barrier, results, worker):
    from nself_billing import Billing

    admitted = 0
    with Billing.from_env(env, migrate=False) as billing:
        for customer_id in customers:
            billing.quotas.limits(customer_id)  # warm: the race is on the consume itself
        for customer_id in customers:
            barrier.wait()
            for attempt in range(ATTEMPTS_PER_ROUND):
                result = billing.quotas.consume(
                    "api",
                    1,
                    {"worker": worker},
                    customer_id=customer_id,
                    idempotency_key=f"{customer_id}-w{worker}-{attempt}",
                )
                admitted += result.admitted
    results.put(admitted)


def test_racing_processes_never_pass_a_hard_limit(billing, customer_id, env):
    customers = []
    for i in range(ROUNDS):
        made = billing.customers.create(
            email=f"r{i}@example.com", name=f"R{i}", customer_id=f"cus_race{i:04d}"
        )
        billing.subscriptions.start(made.customer_id, "pro")
        billing.quotas.set_override("api", LIMIT, mode="hard", customer_id=made.customer_id)
        customers.append(made.customer_id)
    admitted = race(_racer, env, customers, PROCESSES)
    assert sum(admitted) == LIMIT * ROUNDS
    per_customer, rolled = recorded_per_customer(billing)
    with billing.context.db.read() as conn:
        alerts = conn.execute(select(func.count()).select_from(quota_alerts)).scalar_one()
    assert per_customer == {c: LIMIT for c in customers}
    assert rolled == {c: LIMIT * 1_000_000 for c in customers}
    assert alerts == 3 * ROUNDS  # 75%, 90% and (refused at the limit) 100%, once each
