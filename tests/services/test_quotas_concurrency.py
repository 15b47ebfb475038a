"""Processes racing ``consume`` at a hard limit: exactly the limit is admitted, and every
admitted unit is recorded (raw events and rollups), on real SQLite and real PostgreSQL.

Each round is a fresh customer with a small hard limit that every process hits at the same
moment (a barrier per round), so the race at the boundary happens many times per run."""

import multiprocessing

from sqlalchemy import func, select

from nself_billing.store.tables import quota_alerts, usage_daily, usage_records

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
                    "api", 1, {"worker": worker}, customer_id=customer_id,
                    idempotency_key=f"{customer_id}-w{worker}-{attempt}")
                admitted += result.admitted
    results.put(admitted)


def test_racing_processes_never_pass_a_hard_limit(billing, customer_id, env):
    customers = []
    for i in range(ROUNDS):
        made = billing.customers.create(email=f"r{i}@example.com", name=f"R{i}",
                                        customer_id=f"cus_race{i:04d}")
        billing.subscriptions.start(made.customer_id, "pro")
        billing.quotas.set_override("api", LIMIT, mode="hard", customer_id=made.customer_id)
        customers.append(made.customer_id)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    workers = [context.Process(target=_racer, args=(env, customers, barrier, results, i))
               for i in range(PROCESSES)]
    for worker in workers:
        worker.start()
    admitted = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert sum(admitted) == LIMIT * ROUNDS
    with billing.context.db.read() as conn:
        per_customer = dict(conn.execute(
            select(usage_records.c.customer_id, func.count())
            .group_by(usage_records.c.customer_id)).all())
        rolled = dict(conn.execute(
            select(usage_daily.c.customer_id, func.sum(usage_daily.c.quantity_micros))
            .group_by(usage_daily.c.customer_id)).all())
        alerts = conn.execute(select(func.count()).select_from(quota_alerts)).scalar_one()
    assert per_customer == {c: LIMIT for c in customers}
    assert rolled == {c: LIMIT * 1_000_000 for c in customers}
    assert alerts == 3 * ROUNDS  # 75%, 90% and (refused at the limit) 100%, once each
