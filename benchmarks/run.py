"""Run every benchmark, next to the raw-driver baseline, and write docs/PERFORMANCE.md.

    python benchmarks/run.py                 # full run, writes docs/PERFORMANCE.md
    python benchmarks/run.py --smoke         # small and quick (CI), writes benchmarks/.work/
    python benchmarks/run.py --only metering # one module (bench_metering.py)

Each ``benchmarks/bench_<name>.py`` exposes ``run(*, smoke: bool, pg_url: str | None)``
returning rows ``{"name", "value", "unit", "target", "baseline", "notes"}``, where ``baseline``
names a figure of ``../shared/bench/baseline.py`` measured in the same run (or None).
Figures are medians unless the name says otherwise; the machine is shared and noisy, so the
ratio to the baseline measured in the same run is the figure to compare across runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BASELINE = REPO.parent / "shared" / "bench" / "baseline.py"
DEFAULT_PG = os.environ.get("NSELF_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def pg_reachable(url: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3):
            return True
    except Exception:
        return False


def run_baseline(*, smoke: bool, pg_url: str | None) -> dict[str, float]:
    if not BASELINE.is_file():
        print(f"baseline not found at {BASELINE}; ratios omitted", file=sys.stderr)
        return {}
    command = [sys.executable, str(BASELINE), "--n", "2000" if smoke else "20000"]
    if pg_url:
        command += ["--pg", "host=127.0.0.1 user=postgres dbname=test"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_modules(only: str | None) -> list[tuple[str, object]]:
    modules = []
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        if only and name != only:
            continue
        spec = importlib.util.spec_from_file_location(f"benchmarks.{path.stem}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules.append((name, module))
    return modules


def ratio(value: float, base: float | None) -> str:
    if not base:
        return "-"
    return f"{value / base:.2f}"


def fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value < 10 else f"{value:.1f}"


def render(rows: list[dict], baseline: dict[str, float], *, smoke: bool, seconds: float,
           argv: list[str]) -> str:
    lines = [
        "# Performance",
        "",
        "Written by `python benchmarks/run.py` (do not edit by hand). "
        f"Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {'SMOKE (tiny sizes)' if smoke else 'full sizes'}, "
        f"{seconds:.0f} s in all. Command: `python benchmarks/run.py {' '.join(argv)}`.".rstrip(),
        "",
        "Medians unless the figure says p99. *ours/baseline* divides our figure by the raw-driver "
        "figure (`../shared/bench/baseline.py`) measured in the same run: for throughput "
        "(per second) higher is better, for latency (µs, ms) lower is better.",
        "",
        "| area | figure | value | unit | target | baseline (same run) | ours/baseline | notes |",
        "|---|---|---:|---|---|---:|---:|---|",
    ]
    for row in rows:
        base_key = row.get("baseline")
        base = baseline.get(base_key) if base_key else None
        base_text = f"{fmt(base)} (`{base_key}`)" if base else "-"
        lines.append(
            f"| {row['area']} | {row['name']} | {fmt(row['value'])} | {row['unit']} | "
            f"{row.get('target') or '-'} | {base_text} | {ratio(row['value'], base)} | "
            f"{row.get('notes', '')} |"
        )
    lines += ["", "## Baseline (raw drivers, same run)", "", "```json",
              json.dumps(baseline, indent=2), "```", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--only", help="run one module, e.g. metering")
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL URL ('' to skip)")
    parser.add_argument("--output", help="where to write the report")
    args = parser.parse_args()
    pg_url = args.pg if args.pg and pg_reachable(args.pg) else None
    if args.pg and not pg_url:
        print(f"PostgreSQL not reachable at {args.pg}; PostgreSQL figures skipped",
              file=sys.stderr)
    started = time.perf_counter()
    baseline = run_baseline(smoke=args.smoke, pg_url=pg_url)
    rows: list[dict] = []
    for name, module in bench_modules(args.only):
        print(f"== {name}", file=sys.stderr, flush=True)
        for row in module.run(smoke=args.smoke, pg_url=pg_url):  # type: ignore[attr-defined]
            rows.append({"area": name, **row})
            print(f"   {row['name']}: {fmt(row['value'])} {row['unit']}", file=sys.stderr,
                  flush=True)
    output = Path(args.output) if args.output else (
        HERE / ".work" / "PERFORMANCE.smoke.md" if args.smoke else REPO / "docs" / "PERFORMANCE.md")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render(rows, baseline, smoke=args.smoke,
                             seconds=time.perf_counter() - started, argv=sys.argv[1:]))
    print(f"wrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
