"""Issue 14 through the real command line, as an operator would meet it: ids are per customer,
an absurd quantity or unstorable text is one ``Error:`` line (never "Internal error"), a bad
line never stops an import, and an import of a file without ids can be killed and run again
without counting anything twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

BILLING = ("tenant", "billing")
USAGE = (*BILLING, "usage")
ABSURD = ["1e30", "1e308", "NaN", "-Infinity", "1e-30", "Infinity"]


def _stored(billing) -> tuple[int, int]:
    with billing.context.db.read() as conn:
        records = conn.exec_driver_sql("SELECT count(*) FROM billing_usage_records").scalar()
        rolled = conn.exec_driver_sql("SELECT sum(events) FROM billing_usage_daily").scalar()
    return int(records), int(rolled or 0)


@pytest.fixture
def two_tenants(billing):
    for customer in ("cus_a", "cus_b"):
        billing.customers.create(email=f"{customer}@example.com", customer_id=customer)
        billing.subscriptions.start(customer, "pro")


def test_two_tenants_recording_the_same_id_each_get_their_event(cli, billing, two_tenants):
    first = cli(*BILLING, "--customer", "cus_a", "usage", "record", "api", "5", "--id", "k1")
    second = cli(*BILLING, "--customer", "cus_b", "usage", "record", "api", "9", "--id", "k1")
    assert (first.stdout, second.stdout) == (
        "Recorded: api 5 (id k1)\n",
        "Recorded: api 9 (id k1)\n",
    )
    again = cli(*BILLING, "--customer", "cus_b", "usage", "record", "api", "9", "--id", "k1")
    assert again.stdout == "Already recorded: api (id k1); nothing changed\n"
    with billing.context.db.read() as conn:
        stored = conn.exec_driver_sql(
            "SELECT customer_id, quantity_micros FROM billing_usage_records ORDER BY customer_id"
        ).all()
    assert [tuple(row) for row in stored] == [("cus_a", 5_000_000), ("cus_b", 9_000_000)]


def test_an_import_shares_ids_between_tenants_like_every_other_entry_point(
    cli, billing, two_tenants, root
):
    source = root / "shared.jsonl"
    source.write_text(
        "".join(
            json.dumps({"service": "api", "quantity": 1, "id": "same", "customer_id": c}) + "\n"
            for c in ("cus_a", "cus_b", "cus_a")
        )
    )
    result = cli(*USAGE, "import", str(source))
    assert result.stdout == f"Imported {source}: 2 accepted, 1 duplicate, 0 rejected\n"
    billing.usage.record("api", 1, customer_id="cus_b", idempotency_key="same")
    assert _stored(billing) == (2, 2)


@pytest.mark.parametrize("quantity", ABSURD)
def test_an_absurd_quantity_is_one_error_line(cli, billing, customer_id, quantity):
    for args in (
        (*USAGE, "record", "api", quantity),
        (*BILLING, "quota", "override", "--mode", "hard", "--", "api", quantity),
    ):
        result = cli(*args)
        assert result.exit_code == 1, args
        assert result.stdout == ""
        [line] = result.stderr.splitlines()
        assert line.startswith("Error: Invalid ") and "Internal" not in line, line
    assert _stored(billing) == (0, 0)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("--metadata", '{"k": "a\\u0000b"}'),
            "Error: Invalid metadata: must not contain NUL characters",
        ),
        (("--id", "bad\udcff"), "Error: Invalid idempotency key: must be valid Unicode"),
        (
            ("--metadata", '{"k": "\\ud800"}'),
            "Error: Invalid metadata: must be valid Unicode (no lone surrogates)",
        ),
    ],
)
def test_unstorable_text_is_one_error_line_on_both_backends(
    cli, billing, customer_id, args, message
):
    result = cli(*USAGE, "record", "api", "1", *args)
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(message), line
    assert _stored(billing) == (0, 0)


def test_a_bad_line_in_the_middle_of_an_import_is_rejected_and_the_rest_goes_in(
    cli, billing, customer_id, root
):
    source = root / "big.jsonl"
    lines = [{"service": "api", "quantity": 1, "id": f"e-{n}"} for n in range(1, 3001)]
    lines[1500]["quantity"] = 1e30  # line 1,501
    lines[1501]["quantity"] = "NaN"
    lines[1502]["metadata"] = {"k": "\u0000"}
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = cli(*USAGE, "import", str(source), "--batch-size", "1000")
    assert result.exit_code == 1
    assert result.stdout == f"Imported {source}: 2,997 accepted, 0 duplicate, 3 rejected\n"
    assert result.stderr.splitlines() == [
        "Rejected line 1501: Invalid quantity: 1E+30 (too large: at most 1,000,000,000)",
        "Rejected line 1502: Invalid quantity: NaN (not a finite number)",
        "Rejected line 1503: Invalid metadata: must not contain NUL characters",
        "Error: 3 of 3,000 lines rejected (the others were imported)",
    ]
    assert _stored(billing) == (2997, 2997)
    again = cli(*USAGE, "import", str(source), "--batch-size", "1000")
    assert again.stdout == f"Imported {source}: 0 accepted, 2,997 duplicate, 3 rejected\n"


@pytest.mark.slow
def test_an_import_without_ids_killed_and_run_again_counts_each_line_once(
    env, billing, customer_id, root
):
    total = 200_000
    source = root / "no-ids.csv"
    source.write_text("service,quantity\n" + "api,1\n" * total)
    command = [sys.executable, "-m", "nself_billing", *USAGE, "import", str(source)]
    child = subprocess.Popen(
        [*command, "--batch-size", "1000"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while _stored(billing)[0] < 5_000:
            assert child.poll() is None, "the import ended before it could be killed"
            assert time.monotonic() < deadline, "the import wrote nothing"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    written, _ = _stored(billing)
    assert 0 < written < total
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout == (
        f"Imported {source}: {total - written:,} accepted, {written:,} duplicate, 0 rejected\n"
    )
    assert _stored(billing) == (total, total)
    with billing.context.db.read() as conn:
        keys = conn.exec_driver_sql(
            "SELECT min(idempotency_key), count(DISTINCT idempotency_key)"
            " FROM billing_usage_records"
        ).one()
    assert keys[0].startswith("import:") and keys[1] == total
