"""The saturation curve's figure: turn overhead, throughput and CPU by tier against users."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from bench.load import ROOT
from bench.load.measure import Point

PLOTS = (ROOT / "artifacts" / "saturation.png", ROOT / "docs" / "saturation.png")
TIER_COLOURS = {"UI": "tab:blue", "MCP server": "tab:orange", "Postgres": "tab:green", "model": "tab:purple"}


def plot(curves: dict[int, list[Point]], limit_ms: float, think_mean: float, paths: Iterable[Path]) -> None:
    """Turn overhead percentiles, throughput, and the cores each tier (and the rest of the machine) used."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (latency, throughput, cpu) = plt.subplots(1, 3, figsize=(16, 4.8))
    styles = {"p50": ":", "p95": "--", "p99": "-"}
    for processes, points in curves.items():
        users = [point.users for point in points]
        summaries = [point.overhead_summary() for point in points]
        suffix = f", {processes} UI process(es)" if len(curves) > 1 else ""
        for name, style in styles.items():
            values = [getattr(summary, name) for summary in summaries]
            latency.plot(users, values, style, marker="o", label=f"{name}{suffix}")
        throughput.plot(users, [len(p.turns) / p.duration for p in points], "-", marker="o", label=f"turns/s{suffix}")
    all_users = sorted({point.users for points in curves.values() for point in points})
    offered = [users / think_mean for users in all_users]
    throughput.plot(all_users, offered, ":", color="grey", label=f"offered: users / {think_mean:g} s")
    first = next(iter(curves.values()))
    tiers = [*TIER_COLOURS, "other"]
    stacks = [[max(0.0, point.cores.get(tier, 0.0)) for point in first] for tier in tiers]
    colours = [*TIER_COLOURS.values(), "lightgrey"]
    labels = [*TIER_COLOURS, "other work on the machine"]
    cpu.stackplot([point.users for point in first], stacks, labels=labels, colors=colours, alpha=0.85)
    cpu.axhline(os.cpu_count() or 1, color="black", linewidth=0.8, label="all cores")
    cpu.set_ylim(0, (os.cpu_count() or 1) * 1.6)  # room for the legend above the machine's cores
    latency.axhline(limit_ms, color="red", linewidth=0.8, label=f"p99 target {limit_ms:.0f} ms")
    latency.axhline(limit_ms / 2, color="orange", linewidth=0.8, label=f"p95 target {limit_ms / 2:.0f} ms")
    for axis in (latency, throughput, cpu):
        axis.set_xscale("log")
        axis.minorticks_off()
        axis.set_xticks(all_users, [str(users) for users in all_users])
        axis.set_xlabel(f"concurrent users (think time mean {think_mean:g} s)")
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8, loc="upper left")
    latency.set_yscale("log")
    latency.set_ylabel("turn overhead, ms (turn minus model time)")
    latency.set_title("Turn overhead vs users")
    throughput.set_ylabel("turns per second (one tool call each)")
    throughput.set_title("Throughput vs users")
    cpu.set_ylabel("CPU cores")
    cpu.set_title(f"CPU by tier{' (' + str(min(curves)) + ' UI process(es))' if len(curves) > 1 else ''}")
    figure.suptitle(f"Todo chatbot under load ({os.cpu_count()} cores, everything on one machine, model instant)")
    figure.tight_layout()
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=100)
        print(f"saved {path}")
    plt.close(figure)
