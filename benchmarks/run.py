"""Run every benchmark, next to the raw-driver baseline, and write docs/PERFORMANCE.md.

    python benchmarks/run.py                 # full run, writes docs/PERFORMANCE.md
    python benchmarks/run.py --smoke         # small and quick (CI), writes benchmarks/.work/
    python benchmarks/run.py --only metering # one module (bench_metering.py); several: a,b

A full run stores each area's figures, with the baseline of the same run, in
``benchmarks/results/<area>.json``; docs/PERFORMANCE.md is rendered from all stored areas, so
``--only`` refreshes one area and keeps the others' last full figures.

Each ``benchmarks/bench_<name>.py`` exposes ``run(*, smoke: bool, pg_url: str | None)``
returning rows ``{"name", "value", "unit", "target", "baseline", "notes"}``, where ``baseline``
names a figure of ``benchmarks/baseline.py`` (the bare drivers on a minimal table) measured in
the same run (or None).
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

import scratch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
#: the bare-driver reference, measured in every run (nothing outside the repository)
BASELINE = HERE / "baseline.py"
DEFAULT_PG = os.environ.get("NSELF_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def pg_reachable(url: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3):
            return True
    except Exception:
        return False


def run_baseline(*, smoke: bool, pg_url: str | None) -> dict[str, float]:
    command = [sys.executable, str(BASELINE), "--n", "2000" if smoke else "20000"]
    if pg_url:
        command += ["--pg", "host=127.0.0.1 user=postgres dbname=test"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


RESULTS = HERE / "results"


def bench_modules(only: str | None) -> list[tuple[str, object]]:
    chosen = {name.strip() for name in only.split(",")} if only else None
    modules = []
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        if chosen is not None and name not in chosen:
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


def render(results: list[dict]) -> str:
    """The report of stored area results (each with the baseline of its own run)."""
    lines = [
        "# Performance",
        "",
        "Written by `python benchmarks/run.py` (do not edit by hand) from the stored results in "
        "`benchmarks/results/`. Each area shows when and how it was measured; "
        f"{os.cpu_count()} cores, Python {platform.python_version()}.",
        "",
        "Medians unless the figure says p99. *ours/baseline* divides our figure by the raw-driver "
        "figure (`benchmarks/baseline.py`: sqlite3 and psycopg on a minimal table) measured "
        "in the same run as the figure: for "
        "throughput (per second) higher is better, for latency (µs, ms) lower is better. The "
        "machine is shared and noisy (other jobs were running during these runs), so compare the "
        "ratios across runs rather than the absolute figures.",
        "",
    ]
    for result in results:
        baseline = result["baseline"]
        lines += [
            f"## {result['area']}",
            "",
            f"Measured {result['when']} UTC, {result['seconds']:.0f} s for the run, "
            f"{'SMOKE (tiny sizes)' if result['smoke'] else 'full sizes'}. "
            f"Reproduce: `{result['command']}`."
            + (
                f" Load average (1 min) {result['load'][0]} before, {result['load'][1]} after."
                if result.get("load")
                else ""
            ),
            "",
            *([result["about"], ""] if result.get("about") else []),
            "| figure | value | unit | target | baseline (same run) | ours/baseline | notes |",
            "|---|---:|---|---|---:|---:|---|",
        ]
        for row in result["rows"]:
            base_key = row.get("baseline")
            base = baseline.get(base_key) if base_key else None
            base_text = f"{fmt(base)} (`{base_key}`)" if base else "-"
            lines.append(
                f"| {row['name']} | {fmt(row['value'])} | {row['unit']} | "
                f"{row.get('target') or '-'} | {base_text} | {ratio(row['value'], base)} | "
                f"{row.get('notes', '')} |"
            )
        lines += [
            "",
            "<details><summary>baseline of this run</summary>",
            "",
            "```json",
            json.dumps(baseline, indent=2),
            "```",
            "",
            "</details>",
            "",
        ]
    return "\n".join(lines)


def stored_results() -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(RESULTS.glob("*.json"))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--only", help="run one module, e.g. metering")
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL URL ('' to skip)")
    parser.add_argument("--output", help="where to write the report")
    args = parser.parse_args()
    pg_url = args.pg if args.pg and pg_reachable(args.pg) else None
    if args.pg and not pg_url:
        print(f"PostgreSQL not reachable at {args.pg}; PostgreSQL figures skipped", file=sys.stderr)
    baseline = run_baseline(smoke=args.smoke, pg_url=pg_url)
    results: list[dict] = []
    for name, module in bench_modules(args.only):
        print(f"== {name}", file=sys.stderr, flush=True)
        scratch.settle(pg_url)
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        rows = []
        for row in module.run(smoke=args.smoke, pg_url=pg_url):  # type: ignore[attr-defined]
            rows.append(row)
            print(
                f"   {row['name']}: {fmt(row['value'])} {row['unit']}", file=sys.stderr, flush=True
            )
        command = "python benchmarks/run.py --only " + name + (" --smoke" if args.smoke else "")
        results.append(
            {
                "area": name,
                "when": f"{datetime.now(UTC):%Y-%m-%d %H:%M}",
                "smoke": args.smoke,
                "seconds": time.perf_counter() - started,
                "command": command,
                # the 1-minute load average before and after: how busy the shared host was
                "load": [round(load_before, 1), round(os.getloadavg()[0], 1)],
                "about": getattr(module, "ABOUT", ""),
                "baseline": baseline,
                "rows": rows,
            }
        )
    if args.smoke or args.output:
        output = Path(args.output) if args.output else HERE / ".work" / "PERFORMANCE.smoke.md"
        report = render(results)
    else:
        RESULTS.mkdir(exist_ok=True)
        for result in results:
            (RESULTS / f"{result['area']}.json").write_text(json.dumps(result, indent=1) + "\n")
        output = REPO / "docs" / "PERFORMANCE.md"
        report = render(stored_results())
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report)
    print(f"wrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
