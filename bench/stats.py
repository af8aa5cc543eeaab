"""Latency summaries shared by the benchmarks."""

import statistics
from dataclasses import dataclass


@dataclass
class Summary:
    name: str
    calls: int
    errors: int
    p50: float
    p95: float
    p99: float
    per_second: float

    def row(self) -> str:
        return (
            f"| {self.name} | {self.calls} | {self.errors} | {self.p50:.2f} | {self.p95:.2f} | {self.p99:.2f} "
            f"| {self.per_second:.0f} |"
        )


HEADER = "| what | calls | errors | p50 ms | p95 ms | p99 ms | calls/s |\n|---|---:|---:|---:|---:|---:|---:|"


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=1000, method="inclusive")[int(q * 1000) - 1]


def summarize(name: str, latencies_s: list[float], errors: int, wall_s: float) -> Summary:
    ms = [x * 1000 for x in latencies_s]
    return Summary(
        name=name,
        calls=len(ms) + errors,
        errors=errors,
        p50=percentile(ms, 0.50),
        p95=percentile(ms, 0.95),
        p99=percentile(ms, 0.99),
        per_second=len(ms) / wall_s if wall_s > 0 else float("nan"),
    )
