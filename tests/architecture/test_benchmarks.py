"""``benchmarks/run.py`` loads every ``benchmarks/bench_*.py`` and calls its ``run(*, smoke,
pg_url)``: a module of that name without it would break the benchmark (and CI's smoke) at the
end of a long run. Profiling scripts that run on their own are named otherwise."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _run_signature(path: Path) -> list[str] | None:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef) and node.name == "run":
            return [arg.arg for arg in node.args.kwonlyargs]
    return None


@pytest.mark.parametrize("path", sorted(BENCHMARKS.glob("bench_*.py")), ids=lambda p: p.name)
def test_each_benchmark_module_exposes_run(path: Path) -> None:
    assert _run_signature(path) == ["smoke", "pg_url"], (
        f"{path.name} must define run(*, smoke, pg_url) (benchmarks/run.py calls it)"
    )


def test_the_benchmark_modules_are_found() -> None:
    assert len(list(BENCHMARKS.glob("bench_*.py"))) >= 5
