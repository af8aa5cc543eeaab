"""The processes of a run besides this one: UI processes of their own (`--ui-processes` > 1), the fake model in
its own process (in production the model's CPU is not the UI process's), and the stack's server and Postgres."""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.synchronize
import os
import re
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.load.cpu import CpuMeter, Tier, command_line, process_table
from bench.load.profiling import profiling
from bench.load.turns import LoadPlan, TurnRecord, run_ui
from bench.load.workload import respond
from devtools.fake_model import FakeOpenAI


def _ui_child(
    plan: LoadPlan,
    indices: list[int],
    barrier: multiprocessing.synchronize.Barrier,
    results: multiprocessing.Queue[Any],
    release: multiprocessing.synchronize.Event,
) -> None:
    """A UI process of its own (`--ui-processes` > 1): sends back its turns, or the error that stopped it, then
    stays until released, so that its CPU time can still be read."""
    try:
        results.put(run_ui(plan, indices, lambda: barrier.wait(timeout=300)))
    except BaseException as exc:
        barrier.abort()
        results.put(f"{type(exc).__name__}: {exc}")
    release.wait(timeout=120)


def _serve_model(latency: float, pipe: Connection) -> None:
    fake = FakeOpenAI(latency=latency, default=respond).start()
    try:
        pipe.send(fake.base_url)
        pipe.recv()  # until told to stop
    finally:
        fake.stop()
        pipe.send(len(fake.errors))


class ModelProcess:
    def __init__(self, latency: float):
        self.latency = latency
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_serve_model, args=(latency, child), name="fake-model", daemon=True)
        self.base_url = ""
        self.errors = 0

    @property
    def pid(self) -> int:
        assert self._process.pid is not None
        return self._process.pid

    def __enter__(self) -> ModelProcess:
        self._process.start()
        if not self._pipe.poll(60):
            self._process.kill()
            raise RuntimeError("the fake model did not start")
        self.base_url = self._pipe.recv()
        return self

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(OSError, EOFError):
            self._pipe.send("stop")
            if self._pipe.poll(15):
                self.errors = self._pipe.recv()
        self._process.join(timeout=15)
        if self._process.is_alive():
            self._process.kill()


@dataclass(frozen=True)
class Stack:
    database_url: str
    mcp_url: str
    server_pid: int
    postgres_pid: int

    @classmethod
    def find(cls, database_url: str, base: str) -> Stack:
        table = process_table()
        server = [
            pid for pid, (parent, _, _) in table.items() if parent == os.getpid() and "mcp_server" in command_line(pid)
        ]
        port = database_url.rsplit(":", 1)[1].split("/", 1)[0]
        postgres = [pid for pid in table if re.search(rf"postgres .*-p {port}\b", command_line(pid))]
        return cls(database_url, f"{base}/mcp", server[0] if server else -1, postgres[0] if postgres else -1)


def run_ui_processes(
    plan: LoadPlan, count: int, tiers: list[Tier], profile: Path | None, server_pid: int
) -> tuple[list[TurnRecord], CpuMeter, dict[str, float]]:
    context = multiprocessing.get_context("spawn")
    barrier, results, release = context.Barrier(count + 1), context.Queue(), context.Event()
    shares = [list(range(index, plan.users, count)) for index in range(count)]
    processes = [context.Process(target=_ui_child, args=(plan, share, barrier, results, release)) for share in shares]
    for process in processes:
        process.start()
    pids = [process.pid for process in processes if process.pid is not None]
    meter = CpuMeter([Tier("UI", pids), *tiers])
    turns: list[TurnRecord] = []
    try:
        with profiling(profile, server_pid, pids, plan.duration) as start_profiles:
            barrier.wait(timeout=300)
            meter.start()
            start_profiles()
            for _ in processes:
                answer = results.get(timeout=plan.duration + 300)
                if isinstance(answer, str):
                    raise RuntimeError(f"a UI process failed: {answer}")
                turns.extend(answer)
            cores = meter.stop()  # while the UI processes still exist
    finally:
        release.set()
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    return turns, meter, cores
