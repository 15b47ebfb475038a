"""PostgreSQL + ClickHouse: every accepted event reaches ClickHouse once, whatever happens
between the two (a shipper killed mid-batch, ClickHouse away for a while, a batch sent twice),
and the reads that moved to ClickHouse give what PostgreSQL alone gives."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from nself_billing import Billing, UsageEvent
from nself_billing.errors import DatabaseError
from nself_billing.services.event_shipping import batch_token
from nself_billing.store import clickhouse
from nself_billing.store import event_outbox as event_store
from nself_billing.store import export as export_store

DAY = date(2026, 1, 15)


@pytest.fixture
def backend() -> str:
    return "clickhouse"


def _raw_and_final(billing: Billing) -> tuple[int, int]:
    return billing.events.clickhouse.count()


def test_recorded_events_are_shipped_and_leave_the_outbox(billing, customer_id):
    billing.usage.record("api", 1, idempotency_key="a1")
    billing.usage.record("storage", "2.500001", idempotency_key="s1")
    billing.usage.record("api", 1, idempotency_key="a1")  # a duplicate is not an event
    billing.usage.record_many([UsageEvent("api", 1, idempotency_key=f"b{i}") for i in range(50)])
    assert billing.events.status().pending == 52

    result = billing.events.ship(batch_size=20)

    assert (result.events, result.batches) == (52, 3)
    assert billing.events.status().pending == 0
    totals = billing.events.clickhouse.day_totals([customer_id])
    assert totals == {
        (customer_id, "api", DAY): (51_000_000, 51),
        (customer_id, "storage", DAY): (2_500_001, 1),
    }
    assert _raw_and_final(billing) == (52, 52)
    assert billing.events.reconcile().consistent


def test_consumed_events_are_captured_too(billing, customer_id):
    for i in range(5):
        billing.quotas.consume("api", 10, idempotency_key=f"c{i}")
    billing.events.ship()
    assert billing.events.clickhouse.day_totals([customer_id]) == {
        (customer_id, "api", DAY): (50_000_000, 5)
    }


def test_a_batch_shipped_twice_is_counted_once(billing, customer_id):
    billing.usage.record_many([UsageEvent("api", 1, idempotency_key=f"k{i}") for i in range(30)])

    class Crash(Exception):
        pass

    def crash(_size: int) -> None:
        raise Crash

    # ClickHouse has the batch, PostgreSQL rolls the claim back: the batch is still waiting
    with pytest.raises(Crash):
        billing.events.ship(after_insert=crash)
    assert billing.events.status().pending == 30
    assert _raw_and_final(billing) == (30, 30)

    billing.events.ship()

    # the same outbox ids give the same token, and ClickHouse drops the second block
    assert _raw_and_final(billing) == (30, 30)
    assert billing.events.status().pending == 0
    assert billing.events.reconcile().consistent


def test_a_retried_batch_that_grew_is_collapsed_by_the_exact_reads(billing, customer_id):
    """An event committed late with a lower id joins the retried batch: the token differs,
    the block is stored again, and FINAL still counts each event once."""
    billing.usage.record_many([UsageEvent("api", 1, idempotency_key=f"k{i}") for i in range(10)])

    class GiveBack(Exception):
        """The claim is rolled back, as when a shipper dies after its insert."""

    with pytest.raises(GiveBack), billing.context.db.write() as conn:
        claimed = event_store.claim_batch(conn, 6)
        data, rows = event_store.batch_csv(conn, claimed)
        raise GiveBack
    assert rows == 6
    billing.events.clickhouse.insert_csv(data, token=batch_token(claimed))

    billing.events.ship()

    raw, final = _raw_and_final(billing)
    assert (raw, final) == (16, 10)
    assert billing.events.clickhouse.day_totals() == {(customer_id, "api", DAY): (10_000_000, 10)}
    assert billing.events.reconcile().consistent


def test_two_shippers_at_once_ship_each_event_once(billing, env, clock, customer_id):
    billing.usage.record_many([UsageEvent("api", 1, idempotency_key=f"k{i}") for i in range(2_000)])
    other = Billing.from_env(env, clock=clock)
    results = []
    try:
        threads = [
            threading.Thread(target=lambda b=b: results.append(b.events.ship(batch_size=100)))
            for b in (billing, other)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        other.close()
    assert sum(r.events for r in results) == 2_000
    assert _raw_and_final(billing) == (2_000, 2_000)


def test_clickhouse_away_for_a_while_accepting_goes_on_and_the_shipper_catches_up(cli, env, clock):
    away = {"BILLING_CLICKHOUSE_URL": "http://nself:secret-pw@127.0.0.1:1/billing"}
    with Billing.from_env(env | away, clock=clock) as billing:
        billing.customers.create(email="a@example.com", name="A", customer_id="cus_away")
        billing.subscriptions.start("cus_away", "pro")
        billing.usage.record_many(
            [UsageEvent("api", 1, idempotency_key=f"k{i}") for i in range(100)]
        )
        assert billing.usage.record("storage", "1.5").recorded
        with pytest.raises(DatabaseError, match=r"^ClickHouse: ") as error:
            billing.events.ship()
        assert "secret-pw" not in str(error.value)
        # quotas and summaries keep reading the rollups
        assert billing.quotas.status("api").status.usage == Decimal(100)

    doctor = cli("tenant", "billing", "doctor", extra_env=away)
    assert doctor.exit_code == 1
    assert "✗ clickhouse connection: ClickHouse: " in doctor.stdout
    assert "event shipper: 101 events waiting, lag " in doctor.stdout
    assert "last error: ClickHouse: " in doctor.stdout
    assert "secret-pw" not in doctor.stdout + doctor.stderr

    # ClickHouse is back (the same PostgreSQL, the ClickHouse of the test)
    shipped = cli("tenant", "billing", "usage", "ship", "--once")
    assert shipped.exit_code == 0, shipped.stderr
    assert shipped.stdout.startswith("Shipped 101 events in 1 batches (0 waiting)")
    doctor = cli("tenant", "billing", "doctor")
    assert "event shipper: 0 events waiting, lag 0s, 101 shipped" in doctor.stdout
    reconciled = cli("tenant", "billing", "reconcile")
    assert reconciled.exit_code == 0, reconciled.stderr
    assert "ClickHouse in step with the PostgreSQL rollups (2 customer" in reconciled.stdout
    doctor = cli("tenant", "billing", "doctor")
    assert doctor.exit_code == 0, doctor.stdout
    assert "✓ last reconcile: " in doctor.stdout


KILL_SCRIPT = """
import os, signal, sys
from nself_billing import Billing
billing = Billing.from_env()
batches = []
def die(size):
    batches.append(size)
    if len(batches) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
billing.events.ship(batch_size=int(sys.argv[1]), after_insert=die)
print("not killed", flush=True)
"""

COUNT_SCRIPT = """
import json
import signal
from nself_billing import Billing
with Billing.from_env() as billing:
    raw, final = billing.events.clickhouse.count()
    report = billing.events.reconcile()
    print(json.dumps({"raw": raw, "final": final, "consistent": report.consistent}))
"""


@pytest.mark.slow
def test_a_shipper_killed_mid_batch_and_restarted_ships_every_event_exactly_once(
    billing, env, tmp_path: Path
):
    """The shipper runs in its own process on its own ClickHouse directory (the embedded engine
    allows one process per directory) and is killed with SIGKILL after its second batch reached
    ClickHouse, before PostgreSQL committed it."""
    own = env | {"BILLING_CLICKHOUSE_URL": f"chdb://{tmp_path / 'chdb'}?database=killed"}
    billing.customers.create(email="k@example.com", name="K", customer_id="cus_kill")
    billing.usage.record_many(
        [UsageEvent("api", 1, idempotency_key=f"k{i}", customer_id="cus_kill") for i in range(500)]
    )
    child = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, "200"], env=own, capture_output=True, text=True
    )
    assert child.returncode == -9, child.stderr
    assert billing.events.status().pending == 300  # the first batch committed, not the second

    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "nself_billing",
            "tenant",
            "billing",
            "usage",
            "ship",
            "--once",
            "--batch-size=200",
        ],
        env=own,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("Shipped 300 events in 2 batches (0 waiting)")
    counted = subprocess.run(
        [sys.executable, "-c", COUNT_SCRIPT], env=own, capture_output=True, text=True
    )
    assert counted.returncode == 0, counted.stderr
    # the killed batch was sent again with its token: ClickHouse stored it once
    assert json.loads(counted.stdout) == {"raw": 500, "final": 500, "consistent": True}


def test_raw_export_from_clickhouse_is_the_bytes_postgresql_writes(billing, customer_id, cli):
    note = {"endpoint": "/x", "note": 'a,"b"\nc ü'}
    for i in range(3):
        billing.usage.record(
            "api", 1, note, idempotency_key=f"k{i}", at=datetime(2026, 1, 10, 9, i, tzinfo=UTC)
        )
    billing.usage.record("storage", "0.000001", at=datetime(2026, 1, 11, tzinfo=UTC))

    def postgresql_copy() -> bytes:
        with billing.context.db.read() as conn:
            return b"".join(export_store.copy_raw_usage_csv(conn, customer_id, None, header=True))

    def exported(name: str) -> bytes:
        out = billing.settings.nself_root / name
        result = cli(
            "tenant", "billing", "export", "usage", "--raw", "--format=csv", f"--output={out}"
        )
        assert result.exit_code == 0, result.stderr
        return out.read_bytes()

    expected = postgresql_copy()
    assert exported("pending.csv") == expected  # nothing shipped: all from the outbox
    billing.events.ship(max_batches=1, batch_size=2)
    assert exported("mixed.csv") == expected  # two from ClickHouse, two waiting
    billing.events.ship()
    assert exported("shipped.csv") == expected  # all from ClickHouse
    result = cli("tenant", "billing", "export", "usage", "--raw", f"--output={tmp_json(billing)}")
    assert result.exit_code == 0
    records = json.loads(tmp_json(billing).read_text(encoding="utf-8"))
    assert [r["quantity"] for r in records] == ["1.000000"] * 3 + ["0.000001"]
    assert records[0]["metadata"] == note


#: every character a key may hold (all but NUL), the bytes CSV quotes and TabSeparated escapes
#: among them, and non-ASCII of two, three and four bytes
EVERY_CHARACTER = "".join(chr(c) for c in range(1, 128)) + "ü€😀\u2028"


def _postgresql_copy(billing: Billing, customer_id: str) -> bytes:
    with billing.context.db.read() as conn:
        return b"".join(export_store.copy_raw_usage_csv(conn, customer_id, None, header=True))


def _export(billing: Billing) -> tuple[bytes, int]:
    out = billing.settings.nself_root / "raw.csv"
    result = billing.export.export("usage", output_format="csv", output=out, raw=True, force=True)
    return out.read_bytes(), result.rows


@pytest.mark.parametrize("read", [None, 7], ids=["16 MB reads", "7-byte reads"])
def test_raw_export_from_clickhouse_is_postgresqls_bytes_for_every_character(
    billing, customer_id, monkeypatch, read
):
    """The engine renders each line and streams it as TabSeparated (a newline, tab or backslash
    escaped); the export unescapes it. Tiny reads cut escapes and lines at every place."""
    if read:
        monkeypatch.setattr(clickhouse, "_EXPORT_READ", read)
    # and what ClickHouse's CSV input would change by default: padding, \N, single quotes
    special = [" padded\t", "\\N", "'quoted'", "\\n", "\\\\"]
    keys = [chr(c) for c in range(1, 128)] + ["ü", "€", "😀", EVERY_CHARACTER, *special]
    at = datetime(2026, 1, 10, 9, tzinfo=UTC)
    billing.usage.record_many(
        [
            UsageEvent("api", 1, {"text": key, "all": EVERY_CHARACTER}, idempotency_key=key, at=at)
            for key in keys
        ]
    )
    billing.usage.record("storage", "0.000001", {}, at=at)  # no key, metadata unquoted
    billing.usage.record("storage", "2.5", at=at)  # no metadata
    expected = _postgresql_copy(billing, customer_id)
    # newlines inside fields (more newlines than lines), tabs, backslashes, four-byte UTF-8
    assert expected.count(b"\n") > len(keys) + 3 and b"\t" in expected and b"\\" in expected
    assert "😀".encode() in expected

    billing.events.ship(batch_size=50)

    assert _export(billing) == (expected, len(keys) + 2)


def test_a_batch_shipped_twice_is_exported_once(billing, customer_id):
    """A retried batch that grew was stored twice (another token): the export reads it once."""
    note = {"note": 'a,"b"\nc\\d\te'}
    billing.usage.record_many(
        [UsageEvent("api", 1, note, idempotency_key=f"k{i}\n,") for i in range(10)]
    )
    with pytest.raises(ZeroDivisionError), billing.context.db.write() as conn:
        claimed = event_store.claim_batch(conn, 6)
        data, _rows = event_store.batch_csv(conn, claimed)
        raise ZeroDivisionError  # the claim rolls back, as when a shipper dies after its insert
    billing.events.clickhouse.insert_csv(data, token=batch_token(claimed))
    billing.events.ship()
    assert _raw_and_final(billing) == (16, 10)

    assert _export(billing) == (_postgresql_copy(billing, customer_id), 10)


def tmp_json(billing: Billing) -> Path:
    return billing.settings.nself_root / "raw.json"


def test_shipped_raw_rows_past_the_horizon_of_closed_periods_are_deleted(
    billing, customer_id, clock, cli
):
    old = datetime(2025, 11, 20, tzinfo=UTC)  # before the subscription's current period
    billing.usage.record_many(
        [UsageEvent("api", 1, idempotency_key=f"old{i}", at=old) for i in range(20)]
    )
    billing.usage.record("api", 7, idempotency_key="now")
    clock.now = datetime(2026, 1, 20, tzinfo=UTC)  # 61 days after the old events

    assert billing.events.prune() == 0  # nothing is deleted before it is shipped
    billing.events.ship()
    assert billing.events.prune() == 20

    assert billing.queries.render("SELECT COUNT(*) FROM billing_usage_records") == "1"
    # the rollups, and so quotas, summaries and reconcile, are unchanged
    report = billing.usage.summary(period="custom", start="2025-11-01", end="2026-01-31")
    api = next(row for row in report.services if row.service == "api")
    assert (api.quantity, api.events) == (Decimal(27), 21)
    assert billing.events.reconcile().consistent
    assert cli("tenant", "billing", "usage", "rebuild", "--check").exit_code == 0
    out = billing.settings.nself_root / "raw.csv"
    cli("tenant", "billing", "export", "usage", "--raw", "--format=csv", f"--output={out}")
    assert len(out.read_text().splitlines()) == 1 + 21


def test_raw_rows_are_kept_while_their_period_is_open_or_with_keep_forever(
    billing, env, clock, customer_id
):
    billing.usage.record("api", 1, idempotency_key="this-period")
    billing.events.ship()
    clock.now = datetime(2026, 3, 1, tzinfo=UTC)  # 45 days later, the period still not closed
    assert billing.events.prune() == 0
    with Billing.from_env(env | {"BILLING_RAW_USAGE_KEEP_DAYS": "forever"}, clock=clock) as other:
        other.cycle.run()
        assert other.events.prune() == 0
    assert billing.events.prune() == 1  # closed now, and past the 35 days


def test_reconcile_reports_a_difference_and_exits_1(billing, customer_id, cli):
    billing.usage.record("api", 5, idempotency_key="a")
    billing.events.ship()
    with billing.context.db.write() as conn:
        conn.execute(text("UPDATE billing_usage_daily SET quantity_micros = quantity_micros + 1"))

    result = cli("tenant", "billing", "reconcile", "--format=json")

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: 1 (customer, service, day) totals differ")
    [record] = json.loads(result.stdout)
    assert record["check"] == "clickhouse"
    assert (record["customer_id"], record["service"], record["day"]) == (
        customer_id,
        "api",
        DAY.isoformat(),
    )
    assert Decimal(record["difference"]) == Decimal("0.000001")
    doctor = cli("tenant", "billing", "doctor")
    assert "✗ last reconcile: " in doctor.stdout and "1 differences" in doctor.stdout


def test_migrate_creates_the_tables_and_the_capture_and_removes_it_when_unset(
    billing, customer_id, cli, env
):
    with billing.context.db.write() as conn:
        event_store.remove_capture(conn)
    billing.usage.record("api", 1, idempotency_key="before")  # not captured: no trigger

    result = cli("tenant", "billing", "migrate")

    assert result.exit_code == 0, result.stderr
    assert "event capture installed, 1 stored events queued" in result.stdout
    billing.usage.record("api", 1, idempotency_key="after")
    billing.events.ship()
    assert _raw_and_final(billing) == (2, 2)

    result = cli("tenant", "billing", "migrate", extra_env={"BILLING_CLICKHOUSE_URL": ""})
    assert "Event capture removed (BILLING_CLICKHOUSE_URL is not set)" in result.stdout
    with billing.context.db.read() as conn:
        assert not event_store.capture_installed(conn)


def test_clickhouse_needs_postgresql(root):
    env = {"NSELF_ROOT": str(root), "BILLING_CLICKHOUSE_URL": "chdb:///tmp/x"}
    with pytest.raises(Exception, match="BILLING_CLICKHOUSE_URL needs PostgreSQL"):
        Billing.from_env(env)


def test_a_quantity_clickhouse_would_truncate_never_reaches_it(billing):
    row = (1, "c", "api", Decimal("1.0000001"), "", datetime.now(UTC), datetime.now(UTC), "k")
    with pytest.raises(DatabaseError, match=r"does not fit Decimal\(18, 6\)"):
        billing.events.clickhouse.insert([row], token="t")


def test_usage_ship_without_clickhouse_is_one_error_line(cli):
    result = cli(
        "tenant", "billing", "usage", "ship", "--once", extra_env={"BILLING_CLICKHOUSE_URL": ""}
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ClickHouse is not configured")


def test_an_event_too_large_for_clickhouse_stops_the_shipper_with_its_id(billing, customer_id):
    with billing.context.db.write() as conn:
        conn.execute(
            text(
                "INSERT INTO billing_usage_records (customer_id, service_name, quantity)"
                " VALUES (:c, 'api', 10000000000000)"
            ),
            {"c": customer_id},
        )
    with pytest.raises(DatabaseError, match=r"cannot hold; fix or delete it"):
        billing.events.ship()
    assert billing.events.status().pending == 1
    assert billing.events.status().last_error.startswith("Usage event ")


@pytest.mark.slow
def test_the_running_shipper_keeps_up_and_stops_cleanly_on_sigterm(billing, env, tmp_path):
    own = env | {"BILLING_CLICKHOUSE_URL": f"chdb://{tmp_path / 'chdb'}?database=running"}
    billing.customers.create(email="r@example.com", name="R", customer_id="cus_run")
    command = [sys.executable, "-m", "nself_billing", "tenant", "billing", "usage", "ship"]
    with subprocess.Popen(
        [*command, "--interval=0.05"], env=own, stdout=subprocess.PIPE, text=True
    ) as shipper:
        assert shipper.stdout.readline().startswith("Shipping usage events to ClickHouse")
        for round_ in range(3):
            billing.usage.record_many(
                [
                    UsageEvent("api", 1, idempotency_key=f"r{round_}-{i}", customer_id="cus_run")
                    for i in range(100)
                ]
            )
        deadline = time.monotonic() + 30
        while billing.events.status().pending and time.monotonic() < deadline:
            time.sleep(0.05)
        assert billing.events.status().pending == 0
        shipper.send_signal(signal.SIGTERM)
        assert shipper.wait(timeout=30) == 0
        assert shipper.stdout.read().strip() == "Stopped; 0 events waiting"
    assert billing.events.status().shipped_events == 300


def test_serve_ships_in_the_background_what_is_recorded_while_it_runs(billing, customer_id):
    from nself_billing.cli.serve import events_worker

    with events_worker(billing, idle_seconds=0.05) as shipping:
        assert shipping
        billing.usage.record_many(
            [UsageEvent("api", 1, idempotency_key=f"serve-{i}") for i in range(30)]
        )
        deadline = time.monotonic() + 30  # generous: a loaded CI host
        while billing.events.status().shipped_events < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert billing.events.status().pending == 0
    assert _raw_and_final(billing) == (30, 30)


@pytest.mark.slow
def test_concurrent_recorders_with_overlapping_keys_reach_clickhouse_once_each(billing, env):
    import multiprocessing

    from tests.services.test_metering_concurrency import CUSTOMER, _recorder_process

    billing.customers.create(email="c@example.com", name="C", customer_id=CUSTOMER)
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.starmap(_recorder_process, [(env, w) for w in range(4)])
    billing.events.ship(batch_size=250)
    distinct = 3 * 100 + 400
    assert _raw_and_final(billing) == (distinct, distinct)
    assert billing.events.reconcile().consistent


def _reader(pieces: list[bytes]) -> Callable[[int], bytes]:
    """A stream's ``read`` that returns these pieces, then ``b""``."""
    remaining = iter(pieces)
    return lambda _size: next(remaining, b"")


def test_tabseparated_text_is_unescaped_and_counted_whatever_the_reads():
    """``_tsv_raw`` against ClickHouse's escaping (checked end to end above), with reads of
    every size from 1 byte: the same bytes, and one line per string."""
    escapes = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "'": "\\'", "\b": "\\b"}
    strings = ["a,b", "\\", "\\\\n", "x\ny\r\n", "'\t'", "\b\f\\0", "ü😀", "", "\\'"]
    escaped = "".join(
        "".join(escapes.get(c, "\\f" if c == "\f" else c) for c in s) + "\n" for s in strings
    ).encode()
    expected = "".join(s + "\n" for s in strings).encode()
    for size in range(1, len(escaped) + 2):
        pieces = [escaped[i : i + size] for i in range(0, len(escaped), size)]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(clickhouse, "_EXPORT_READ", size)
            out = list(clickhouse._tsv_raw(_reader(pieces)))
        assert b"".join(chunk for chunk, _lines in out) == expected, size
        assert sum(lines for _chunk, lines in out) == len(strings), size
