"""One measured point: a run of simulated users with a fresh fake model, the turns it took and the CPU each tier
used."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from bench.load.cpu import CpuMeter, Tier
from bench.load.processes import ModelProcess, Stack, run_ui_processes
from bench.load.profiling import profiling
from bench.load.turns import LoadPlan, ToolCallRecord, TurnRecord, run_ui
from bench.stats import Summary, summarize


@dataclass
class Point:
    users: int
    ui_processes: int
    model_latency: float
    duration: float
    turns: list[TurnRecord]
    cores: dict[str, float]
    model_errors: int
    think_mean: float

    @property
    def ok_turns(self) -> list[TurnRecord]:
        return [turn for turn in self.turns if turn.error is None]

    @property
    def turn_errors(self) -> int:
        return len(self.turns) - len(self.ok_turns) + self.model_errors

    @property
    def tool_calls(self) -> list[ToolCallRecord]:
        return [call for turn in self.turns for call in turn.tool_calls]

    @property
    def tool_errors(self) -> int:
        return sum(not call.ok for call in self.tool_calls)

    def overheads(self) -> list[float]:
        return [turn.seconds - self.model_latency * turn.model_rounds for turn in self.ok_turns]

    def turn_summary(self) -> Summary:
        return summarize("turn, wall time", [t.seconds for t in self.ok_turns], self.turn_errors, self.duration)

    def overhead_summary(self) -> Summary:
        name = f"turn overhead (turn - {self.model_latency * 1000:.0f} ms x model rounds)"
        return summarize(name, self.overheads(), self.turn_errors, self.duration)

    def tool_summary(self, name: str | None = None, label: str | None = None) -> Summary:
        calls = [call for call in self.tool_calls if name is None or call.name == name]
        ok = [call.seconds for call in calls if call.ok]
        return summarize(
            label or (f"tool call {name}" if name else "tool call, all"), ok, len(calls) - len(ok), self.duration
        )

    def cpu_ms_per_turn(self, tier: str) -> float:
        return self.cores[tier] * self.duration / max(1, len(self.turns)) * 1000

    def cpu_lines(self) -> str:
        """Cores used by each tier, CPU per turn, and the turn rates that CPU per turn allows: robust figures on
        a machine shared with other work, where latencies are not."""
        parts = [f"{name} {cores:.2f} ({self.cpu_ms_per_turn(name):.1f} ms/turn)" for name, cores in self.cores.items()]
        ours = sum(self.cpu_ms_per_turn(name) for name in self.cores if name != "other")
        cores = os.cpu_count() or 1
        machine = cores * 1000 / ours
        reference = self.think_mean or 5.0  # users: for a back-to-back run, as many as at one turn per 5 s
        return (
            "CPU cores used (CPU ms per turn): " + ", ".join(parts) + "\n"
            f"CPU per turn, all tiers: {ours:.1f} ms, so this {cores}-core machine alone tops out near {machine:.0f} "
            f"turns/s (~{machine * reference:.0f} users at one turn per {reference:g} s); "
            f"{self.ui_processes} UI process(es), one GIL "
            f"each, near {1000 / self.cpu_ms_per_turn('UI') * self.ui_processes:.0f} turns/s; the MCP server near "
            f"{1000 / self.cpu_ms_per_turn('MCP server'):.0f} turns/s per process"
        )


def measure(
    stack: Stack,
    users: int,
    duration: float,
    *,
    model_latency: float = 0.0,
    ui_processes: int = 1,
    think_mean: float = 5.0,
    max_turns: int = 10_000,
    seed: int = 1,
    history_turns: int = 10,
    profile: Path | None = None,
) -> Point:
    """One run: a fresh fake model, `users` new users over `ui_processes` UI processes, CPU of every tier."""
    with ModelProcess(model_latency) as model:
        tag = f"{users}u{ui_processes}p{int(model_latency * 1000)}ms-{time.time_ns()}"
        plan = LoadPlan(stack.mcp_url, model.base_url, users, duration, think_mean, max_turns, seed, tag, history_turns)
        tiers = [Tier("MCP server", [stack.server_pid]), Tier("Postgres", [stack.postgres_pid])]
        tiers.append(Tier("model", [model.pid]))
        if ui_processes == 1:
            meter = CpuMeter([Tier("UI", [os.getpid()], with_children=False), *tiers])
            with profiling(profile, stack.server_pid, [os.getpid()], duration) as start_profiles:

                def ready() -> None:
                    meter.start()
                    start_profiles()

                turns = run_ui(plan, range(users), ready)
                cores = meter.stop()
        else:
            turns, meter, cores = run_ui_processes(plan, ui_processes, tiers, profile, stack.server_pid)
    # Turns start within `duration`; a run of back-to-back turns that hits max_turns first ends earlier.
    wall = min(duration, meter.wall)
    return Point(users, ui_processes, model_latency, wall, turns, cores, model.errors, think_mean)
