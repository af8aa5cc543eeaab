"""CPU used by each tier, from /proc (Linux)."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_table() -> dict[int, tuple[int, float, float]]:
    """pid -> (parent pid, own CPU seconds, CPU seconds of its reaped children)."""
    table = {}
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            own = (int(fields[11]) + int(fields[12])) / TICK
            table[int(entry.name)] = (int(fields[1]), own, (int(fields[13]) + int(fields[14])) / TICK)
    return table


def _machine_busy() -> float:
    """CPU seconds the whole machine spent running anything: user, nice, system, irq and softirq time."""
    with contextlib.suppress(OSError):
        values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return (values[0] + values[1] + values[2] + values[5] + values[6]) / TICK
    return float("nan")


def command_line(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return ""


@dataclass
class Tier:
    name: str
    roots: list[int]
    with_children: bool = True

    def cpu(self, table: dict[int, tuple[int, float, float]]) -> float:
        pids, seen = list(self.roots), set(self.roots)
        if self.with_children:
            children: dict[int, list[int]] = {}
            for pid, (parent, _, _) in table.items():
                children.setdefault(parent, []).append(pid)
            for pid in pids:  # grows while walking: every descendant
                for child in children.get(pid, []):
                    if child not in seen:
                        seen.add(child)
                        pids.append(child)
        own = sum(table[pid][1] for pid in pids if pid in table)
        reaped = sum(table[pid][2] for pid in self.roots if pid in table) if self.with_children else 0.0
        return own + reaped


class CpuMeter:
    """Cores used by each tier between start() and stop(); 'other' is the rest of the machine's busy time."""

    def __init__(self, tiers: list[Tier]):
        self.tiers = tiers
        self._before: dict[str, float] = {}
        self._started = 0.0
        self.wall = 0.0

    def _read(self) -> dict[str, float]:
        table = process_table()
        return {"machine": _machine_busy(), **{tier.name: tier.cpu(table) for tier in self.tiers}}

    def start(self) -> None:
        self._before, self._started = self._read(), time.perf_counter()

    def stop(self) -> dict[str, float]:
        after, self.wall = self._read(), time.perf_counter() - self._started
        cores = {name: (after[name] - before) / self.wall for name, before in self._before.items()}
        cores["other"] = cores.pop("machine") - sum(cores[tier.name] for tier in self.tiers)
        return cores
