"""Every benchmark still runs and prints its figures, at its smallest size (the figures themselves are read by
people, from `make bench` and `make bench-load`; no verdict here depends on them)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SMALLEST = {
    "bench.turn_overhead": ["--turns", "5"],
    "bench.caller_cost": ["--calls", "40", "--alone", "200"],
    "bench.page": ["--sizes", "0,8", "--repeats", "1"],
    "bench.server": [
        "--connections", "1,2", "--duration", "2", "--warmup", "1", "--floor-duration", "1", "--servers", ".,.:w2:r2",
    ],
    "bench.load": [
        "--users", "2", "--duration", "3", "--think", "1", "--skip", "slow,curve",
        "--single-turns", "5", "--floor-calls", "40",
    ],
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(SMALLEST))
def test_the_benchmark_runs_and_prints_a_table_of_figures(module: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", module, *SMALLEST[module]],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    rows = [line for line in completed.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) >= 2, f"no table of figures:\n{completed.stdout[-2000:]}"
