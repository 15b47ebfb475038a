"""``BufferedRecorder`` in a process stopped the way systemd, Docker and Kubernetes stop one
(SIGTERM), or by Ctrl-C (SIGINT): every acknowledged event is stored before the process ends,
and the handler that was installed before the recorder still runs (issue 14)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow

EVENTS = 20_000

SCRIPT = textwrap.dedent(
    """
    import signal, sys, time
    from nself_billing import Billing, BufferedRecorder

    if sys.argv[1] == "chained":
        def stop(signum, frame):
            print("previous handler ran", flush=True)
            sys.exit(3)
        signal.signal(signal.SIGTERM, stop)
    billing = Billing.from_env()
    # bounds far away: nothing is written before the signal
    recorder = BufferedRecorder(
        billing, max_batch=100_000, flush_interval=3600, max_buffered=100_000
    )
    for i in range({events}):
        recorder.record("api", 1, idempotency_key=f"r-{{i}}")
    try:
        print("acknowledged", recorder.pending, flush=True)
        time.sleep(600)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
    """
).format(events=EVENTS)


def _stored(billing) -> tuple[int, int]:
    with billing.context.db.read() as conn:
        records = conn.exec_driver_sql("SELECT count(*) FROM billing_usage_records").scalar()
        rolled = conn.exec_driver_sql("SELECT sum(events) FROM billing_usage_daily").scalar()
    return int(records), int(rolled or 0)


def _run_until_acknowledged(env: dict[str, str], mode: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, mode],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line == f"acknowledged {EVENTS}\n", child.stderr.read() if child.stderr else line
    return child


@pytest.mark.parametrize(
    "mode, signum, exit_code, said",
    [
        ("default", signal.SIGTERM, -signal.SIGTERM, ""),
        ("chained", signal.SIGTERM, 3, "previous handler ran\n"),
        ("default", signal.SIGINT, 130, "interrupted\n"),
    ],
)
def test_a_stop_signal_stores_every_acknowledged_event(
    env, billing, customer_id, mode, signum, exit_code, said
):
    child = _run_until_acknowledged(env, mode)
    try:
        assert _stored(billing) == (0, 0)  # all of them still in the buffer
        child.send_signal(signum)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert (child.returncode, out) == (exit_code, said), err
    assert _stored(billing) == (EVENTS, EVENTS)


def test_a_sigkill_loses_what_was_buffered_as_documented(env, billing, customer_id):
    """SIGKILL runs no handler: the events still buffered are lost (docs/API.md says so, and
    how to bound it); the ones written before are kept."""
    child = _run_until_acknowledged(env, "default")
    child.kill()
    child.communicate(timeout=60)
    assert _stored(billing) == (0, 0)
