"""The recording hot path's driver connections are lent per call, not pinned per thread: any
number of short-lived threads (a thread-per-request server) share a few of them."""

import threading

from sqlalchemy import func, select

from nself_billing.store.db import HOT_IDLE
from nself_billing.store.tables import usage_records


def test_short_lived_threads_recording_share_a_few_connections(billing, customer_id):
    errors: list[BaseException] = []

    def record(n: int) -> None:
        try:  # no customer named: the current one is resolved on the hot path too
            billing.usage.record("api", 1, {"n": n}, idempotency_key=f"thread-{n}")
        except BaseException as error:
            errors.append(error)

    # more threads in all than the pool holds (5 + 10 overflow): a connection pinned to each
    # thread would exhaust it and the 16th would wait for the pool's 30 s timeout
    for wave in range(4):
        threads = [threading.Thread(target=record, args=(wave * 10 + i,)) for i in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
            assert not thread.is_alive()
    assert errors == []
    assert len(billing.context.db._hot_idle) <= HOT_IDLE
    with billing.context.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(usage_records)).scalar_one() == 40


def test_a_driver_error_drops_the_connection_and_is_one_clear_error(billing, customer_id):
    import pytest

    from nself_billing.errors import NotFound

    with pytest.raises(NotFound, match="Customer not found: cus_nobody"):
        billing.usage.record("api", 1, customer_id="cus_nobody")
    assert billing.usage.record("api", 1).recorded is True  # the path still works


def test_dispose_takes_every_idle_connection_off_the_free_list(billing, customer_id):
    db = billing.context.db
    billing.usage.record("api", 1)
    assert db._hot_idle
    db.dispose()
    assert db._hot_idle == []
    assert billing.usage.record("api", 1).recorded is True  # new connections after dispose


def test_drained_stops_when_another_thread_empties_the_list():
    from nself_billing.store.db import drained

    class Racing(list):  # another thread takes the last entry between the check and the pop
        def pop(self, *args):
            if len(self) == 1:
                super().pop()
                raise IndexError
            return super().pop(*args)

    assert list(drained(Racing([1, 2, 3]))) == [3, 2]
    assert list(drained([])) == []
