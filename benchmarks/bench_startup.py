"""Start-up: every ``nself tenant billing`` command, cold, on the embedded SQLite default.

A project is made first (the demo: a customer on pro with a month of usage; an invoice, a
payment method and an API key), and ``NSELF_CUSTOMER_ID`` names the demo customer. Each command
then runs as a new process, as people and scripts run it. The common read commands (``usage``,
``quota``, ``customer show``, ``subscription show``, ``invoice list``) and the catalog's
``plan list`` have a target of 300 ms; the others are measured and reported without one.
``serve`` (it keeps running) is left out; so are the Stripe-only commands' network calls: with
the local provider they exit 1 at once, which is what their start-up costs here.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

#: (label, arguments after `nself tenant billing`), with a 300 ms target
TARGETED = [
    ("plan list", ["plan", "list"]),
    ("usage", ["usage"]),
    ("quota", ["quota", "--usage"]),
    ("customer show", ["customer", "show"]),
    ("subscription show", ["subscription", "show"]),
    ("invoice list", ["invoice", "list"]),
]
#: every other command, measured without a target ({invoice} and {method}: ids made first)
OTHERS = [
    ("plan show", ["plan", "show", "pro"]),
    ("plan compare", ["plan", "compare"]),
    ("plan current", ["plan", "current"]),
    ("subscription plans", ["subscription", "plans"]),
    ("customer list", ["customer", "list"]),
    ("customer update", ["customer", "update", "--name", "Demo Tenant"]),
    ("customer create", ["customer", "create", "--email", "x@example.com", "--name", "X"]),
    ("customer portal", ["customer", "portal"]),
    ("subscription upgrade", ["subscription", "upgrade", "enterprise"]),
    ("subscription downgrade", ["subscription", "downgrade", "free"]),
    ("subscription cancel", ["subscription", "cancel"]),
    ("subscription reactivate", ["subscription", "reactivate"]),
    ("invoice show", ["--customer", "cus_bench", "invoice", "show", "{invoice}"]),
    ("invoice download", ["--customer", "cus_bench", "invoice", "download", "{invoice}"]),
    ("invoice pay", ["--customer", "cus_bench", "invoice", "pay", "{invoice}"]),
    ("payment list", ["payment", "list"]),
    ("payment add", ["payment", "add", "--token", "tok_bench"]),
    ("payment default", ["payment", "default", "{method}"]),
    ("payment remove", ["payment", "remove", "pm_missing"]),
    ("cycle", ["cycle"]),
    ("usage record", ["usage", "record", "api", "1"]),
    ("usage import", ["usage", "import", "{events}"]),
    ("usage rebuild", ["usage", "rebuild", "--check"]),
    ("quota override", ["quota", "override", "api", "2000000"]),
    ("export", ["export", "usage", "--output", "{export}", "--force"]),
    ("apikey create", ["apikey", "create", "--name", "bench"]),
    ("apikey list", ["apikey", "list"]),
    ("apikey revoke", ["apikey", "revoke", "missing"]),
    ("doctor", ["doctor"]),
    ("migrate", ["migrate"]),
    ("sync", ["sync", "--status"]),
    ("reconcile", ["reconcile"]),
    ("plan sync", ["plan", "sync"]),
    ("webhook list", ["webhook", "list"]),
    ("webhook events", ["webhook", "events"]),
    ("webhook test", ["webhook", "test"]),
]


def _time_ms(command: list[str], env: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, check=False)
    return (time.perf_counter() - started) * 1000, done.returncode


def _median_ms(command: list[str], env: dict[str, str], runs: int) -> tuple[float, int]:
    samples = [_time_ms(command, env) for _ in range(runs)]
    return statistics.median(s[0] for s in samples), samples[-1][1]


def run(*, smoke: bool, pg_url: str | None) -> list[dict]:
    runs = 3 if smoke else 21
    other_runs = 1 if smoke else 5
    with tempfile.TemporaryDirectory() as root:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("BILLING_", "STRIPE_", "NSELF_"))
        }
        env["NSELF_ROOT"] = root
        # as after `pip install .`, which compiles the package: the first runs below write the
        # bytecode of an editable install, so the timed runs measure start-up, not compiling
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        nself = [sys.executable, "-m", "nself_billing", "tenant", "billing"]

        def setup(*args: str) -> str:
            done = subprocess.run([*nself, *args], env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")
            return done.stdout

        setup("demo")
        # a second customer with an open invoice: on starter, upgraded to pro at once
        setup("customer", "create", "--id=cus_bench", "--email=b@example.com", "--name=B",
              "--plan=starter")  # fmt: skip
        upgraded = setup("--customer", "cus_bench", "subscription", "upgrade", "pro")
        invoice = upgraded.split("(invoice ", 1)[1].split(",", 1)[0]
        env["NSELF_CUSTOMER_ID"] = "cus_demo"
        setup("payment", "add", "--brand", "visa", "--last4", "4242", "--exp", "12/2030")
        method = setup("payment", "list").split()[2]
        events = os.path.join(root, "events.jsonl")
        with open(events, "w") as file:
            file.write('{"service": "api", "quantity": 1}\n')
        values = {
            "{invoice}": invoice,
            "{method}": method,
            "{events}": events,
            "{export}": os.path.join(root, "usage.json"),
        }
        for _label, args in TARGETED:  # bytecode, caches, the catalog's own path
            subprocess.run([*nself, *args], env=env, capture_output=True, check=False)
        rows = []
        for label, args in TARGETED:
            ms, code = _median_ms([*nself, *args], env, runs)
            rows.append(
                {
                    "name": f"`{label}` cold start (SQLite)",
                    "value": ms,
                    "unit": "ms",
                    "target": "< 300 ms",
                    "baseline": None,
                    "notes": f"median of {runs} runs; exit {code}",
                }
            )
        for label, args in OTHERS:
            command = [*nself, *(values.get(a, a) for a in args)]
            ms, code = _median_ms(command, env, other_runs)
            rows.append(
                {
                    "name": f"`{label}` cold start (SQLite)",
                    "value": ms,
                    "unit": "ms",
                    "target": None,
                    "baseline": None,
                    "notes": f"median of {other_runs} run(s); exit {code}",
                }
            )
        bare, _ = _median_ms([sys.executable, "-c", "pass"], env, runs)
        sqlalchemy, _ = _median_ms([sys.executable, "-c", "import sqlalchemy"], env, runs)
    rows.append(
        {
            "name": "floor: `python -c pass`, and with `import sqlalchemy`",
            "value": bare,
            "unit": "ms",
            "target": None,
            "baseline": None,
            "notes": f"`import sqlalchemy` alone: {sqlalchemy:.0f} ms (median of {runs} runs); "
            "the targeted commands read a ready database through sqlite3 and never import it",
        }
    )
    return rows
