"""Start-up: a cold ``nself tenant billing plan list`` on the embedded SQLite default."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time


def _median_ms(command: list[str], env: dict[str, str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def run(*, smoke: bool, pg_url: str | None) -> list[dict]:
    runs = 3 if smoke else 21
    with tempfile.TemporaryDirectory() as root:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("BILLING_", "STRIPE_", "NSELF_"))
        }
        env["NSELF_ROOT"] = root
        # as after `pip install .`, which compiles the package: the first run below writes the
        # bytecode of an editable install, so the timed runs measure start-up, not compiling
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        nself = [sys.executable, "-m", "nself_billing", "tenant", "billing", "plan", "list"]
        subprocess.run(nself, env=env, check=True, capture_output=True)  # creates the database
        subprocess.run(nself, env=env, check=True, capture_output=True)  # the catalog's own path
        ours = _median_ms(nself, env, runs)
        bare = _median_ms([sys.executable, "-c", "pass"], env, runs)
        sqlalchemy = _median_ms([sys.executable, "-c", "import sqlalchemy"], env, runs)
    return [
        {
            "name": "`plan list` cold start (SQLite)",
            "value": ours,
            "unit": "ms",
            "target": "< 300 ms",
            "baseline": None,
            "notes": f"floors in the same run: `python -c pass` {bare:.0f} ms, `python -c 'import "
            f"sqlalchemy'` {sqlalchemy:.0f} ms; median of {runs} runs, on a ready database "
            "with the package's bytecode compiled (as `pip install .` leaves it)",
        },
    ]
