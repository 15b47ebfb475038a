"""Processes racing on the quota hot path: start them together, collect what each admitted, and
read back what was recorded."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from nself_billing.store.tables import usage_daily, usage_records


def race(
    target: Callable[..., None], env: dict[str, str], customers: list[str], processes: int
) -> list[int]:
    """Run ``target(env, customers, barrier, results, worker)`` in ``processes`` fresh (spawned)
    processes; each puts its number of admitted calls on ``results``. Returns them."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    workers = [
        context.Process(target=target, args=(env, customers, barrier, results, i))
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    admitted = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    return admitted


def recorded_per_customer(billing: Any) -> tuple[dict[str, int], dict[str, int]]:
    """Raw events and rolled-up micro-units, per customer."""
    with billing.context.db.read() as conn:
        events = dict(
            conn.execute(
                select(usage_records.c.customer_id, func.count()).group_by(
                    usage_records.c.customer_id
                )
            ).all()
        )
        rolled = dict(
            conn.execute(
                select(usage_daily.c.customer_id, func.sum(usage_daily.c.quantity_micros)).group_by(
                    usage_daily.c.customer_id
                )
            ).all()
        )
    return events, rolled
