"""Load: many simulated chat users at once through the real agent, the real MCP server over HTTP and Postgres.

Each simulated user has their own conversation and takes a turn after an exponential think time (mean 5 s:
one turn every 5 s on average, counted from the end of their previous answer, as a person waits for the reply
before typing again). A turn is `Agent.run_turn`, exactly as the page runs it: store the user's message and
read the history (one MCP call), a streamed model round that calls one task tool (list, add, complete or update) through the real
MCP server and Postgres, a second streamed round that answers the tool result with a short text, store the
turn. Each conversation starts with `--history` earlier turns, so every turn reads and sends a full history
(HISTORY_MESSAGES, 40 by default), as in a conversation that has been going for a while. The model is the
test model server (devtools/fake_model.py) in its own process, answering at once, and in a second run
after a fixed latency, to show that the UI tier does not serialise on the model.

Users run as threads of one UI process sharing ONE `McpConnection` and one `Agent`, as one Streamlit process
serves many sessions from its script threads; `--ui-processes K` splits them over K such processes.

Reported: per turn and per tool call (StepStarted -> StepFinished) p50/p95/p99, throughput and errors; "turn
overhead" = turn time minus the model's configured latency x its rounds in that turn; CPU used by each tier;
a saturation curve (10 -> 400 users, until the turn overhead's p99 passes the limit) printed and plotted to
artifacts/saturation.png and docs/saturation.png; the raw SQL floor at 1 client and at the same concurrency.
All traffic is loopback; every loop is bounded in turns and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import multiprocessing
import multiprocessing.synchronize
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx2
import openai

from app.agent import Agent, Notice, StepFinished, StepStarted
from app.client import McpConnection, TodoClient
from app.settings import UISettings
from app.steps import ToolStep
from bench.common import SERVICE_TOKEN as TOKEN
from bench.common import running_stack
from bench.stats import HEADER, Summary, summarize
from bench.tool_latency import OPERATIONS, sql_round, tool_round
from contract.schemas import MessageIn
from devtools.fake_model import Call, FakeOpenAI, Reply, Text, ToolCalls

ROOT = Path(__file__).resolve().parent.parent
PLOTS = (ROOT / "artifacts" / "saturation.png", ROOT / "docs" / "saturation.png")
TASK_TOOLS = ("list_tasks", "add_task", "complete_task", "update_task")
PROFILE_RATE = 100  # py-spy samples per second

# ----------------------------------------------------------------------------------------------------------------
# What users say, and the fake model's answer to it


ACTIONS = ("list", "add", "complete", "update")
WEIGHTS = (0.35, 0.30, 0.20, 0.15)
SEED_TASKS = 6  # open tasks each user starts with
MAX_OPEN = 25  # a user with this many open tasks completes one instead of adding another

LIST_TEXT = "what's open?"
ADD = re.compile(r"add '(?P<title>[^']{1,200})' priority (?P<priority>low|medium|high) due (?P<due>\d{4}-\d\d-\d\d)")
DONE = re.compile(r"done with task (?P<task>\d+)")
MOVE = re.compile(r"move task (?P<task>\d+) to (?P<due>\d{4}-\d\d-\d\d)")
RANK = re.compile(r"make task (?P<task>\d+) (?P<priority>low|medium|high) priority")
CONFIRMATIONS = {
    "list_tasks": "Here are your open tasks, one per line.",
    "add_task": "Added it to your list.",
    "complete_task": "Nice, marked it as done.",
    "update_task": "Updated the task.",
}
TITLES = ("send Q3 report", "call the plumber", "book dentist", "renew passport", "buy milk", "review PR", "pay rent")


def intended_call(text: str) -> Call | None:
    """The tool call a good model makes for one of the simulated users' messages."""
    if text == LIST_TEXT:
        return Call("list_tasks", {"status": "open"})
    if match := ADD.fullmatch(text):
        return Call("add_task", {"title": match["title"], "priority": match["priority"], "due_date": match["due"]})
    if match := DONE.fullmatch(text):
        return Call("complete_task", {"task_id": int(match["task"])})
    if match := MOVE.fullmatch(text):
        return Call("update_task", {"task_id": int(match["task"]), "due_date": match["due"]})
    if match := RANK.fullmatch(text):
        return Call("update_task", {"task_id": int(match["task"]), "priority": match["priority"]})
    return None


def respond(body: dict[str, Any]) -> Reply:
    """The fake model: one tool call for the user's message, then a short text answering the tool's result."""
    messages = body.get("messages") or [{}]
    last = messages[-1]
    if last.get("role") == "tool":
        calls = (messages[-2].get("tool_calls") if len(messages) > 1 else None) or [{}]
        return Text(CONFIRMATIONS.get(calls[0].get("function", {}).get("name", ""), "Done."))
    call = intended_call(str(last.get("content") or ""))
    return ToolCalls([call]) if call is not None else Text("Sorry, I did not get that.")


@dataclass
class SimulatedUser:
    """One person in their own conversation (their client: the page's service token acting for them); remembers
    their open task numbers from the tool results."""

    todo: TodoClient
    conversation_id: str
    rng: random.Random
    think_mean: float
    open_tasks: list[int] = field(default_factory=list)

    def think(self) -> float:
        return self.rng.expovariate(1 / self.think_mean) if self.think_mean > 0 else 0.0

    def next_message(self, today: dt.date) -> str:
        action = self.rng.choices(ACTIONS, WEIGHTS)[0]
        if action in ("complete", "update") and not self.open_tasks:
            action = "add"
        if action == "add" and len(self.open_tasks) >= MAX_OPEN:
            action = "complete"
        due = (today + dt.timedelta(days=self.rng.randint(0, 30))).isoformat()
        if action == "list":
            return LIST_TEXT
        if action == "add":
            title = f"{self.rng.choice(TITLES)} {self.rng.randint(1, 999)}"
            return f"add '{title}' priority {self.rng.choice(('low', 'medium', 'high'))} due {due}"
        task = self.rng.choice(self.open_tasks)
        if action == "complete":
            return f"done with task {task}"
        if self.rng.random() < 0.5:
            return f"move task {task} to {due}"
        return f"make task {task} {self.rng.choice(('low', 'medium', 'high'))} priority"

    def observe(self, step: ToolStep) -> None:
        if step.result is None:
            return
        if step.name == "add_task":
            self.open_tasks.append(int(step.result["id"]))
        elif step.name == "complete_task" and step.arguments.get("task_id") in self.open_tasks:
            self.open_tasks.remove(step.arguments["task_id"])


# ----------------------------------------------------------------------------------------------------------------
# One UI process: the agent, one shared MCP connection, a thread per user


@dataclass
class ToolCallRecord:
    name: str
    seconds: float
    ok: bool


@dataclass
class TurnRecord:
    at: float  # seconds after the run's start
    seconds: float
    model_rounds: int
    tool_calls: list[ToolCallRecord]
    error: str | None = None


@dataclass(frozen=True)
class LoadPlan:
    mcp_url: str
    model_url: str
    users: int
    duration: float
    think_mean: float  # seconds; 0 = back to back
    max_turns: int  # per user
    seed: int
    tag: str  # makes this run's user ids unique
    history_turns: int = 10  # earlier turns in each conversation: 10 x 4 messages = HISTORY_MESSAGES' default


class RoundCounter:
    """Model requests made by the current thread: an httpx request hook runs in the thread that sends."""

    def __init__(self) -> None:
        self._local = threading.local()

    def hook(self, request: httpx2.Request) -> None:
        self._local.count = self.count + 1

    @property
    def count(self) -> int:
        return int(getattr(self._local, "count", 0))

    def reset(self) -> None:
        self._local.count = 0


def make_agent(connection: McpConnection, model_url: str, rounds: RoundCounter) -> Agent:
    """The agent as `Agent.from_settings` builds it (the SDK's own HTTP defaults), plus the round counter."""
    settings = UISettings(mcp_url=connection.url, openai_api_key="bench", openai_base_url=model_url)
    llm = openai.OpenAI(
        api_key="bench",
        base_url=model_url,
        timeout=settings.model_timeout,
        max_retries=settings.model_retries,
        http_client=openai.DefaultHttpxClient(event_hooks={"request": [rounds.hook]}),
    )
    return Agent(settings, llm)


def take_turn(agent: Agent, rounds: RoundCounter, user: SimulatedUser, at: float) -> TurnRecord:
    text = user.next_message(dt.date.today())
    rounds.reset()
    calls: list[ToolCallRecord] = []
    error: str | None = None
    step_started = started = time.perf_counter()
    try:
        for event in agent.run_turn(user.todo, user.conversation_id, text):
            if isinstance(event, StepStarted):
                step_started = time.perf_counter()
            elif isinstance(event, StepFinished):
                calls.append(ToolCallRecord(event.step.name, time.perf_counter() - step_started, not event.step.error))
                user.observe(event.step)
            elif isinstance(event, Notice):
                error = event.text
    except Exception as exc:  # a failed turn is a data point, not the end of this user
        error = f"{type(exc).__name__}: {exc}"
    return TurnRecord(at, time.perf_counter() - started, rounds.count, calls, error)


def setup_user(connection: McpConnection, plan: LoadPlan, index: int) -> SimulatedUser:
    """A user with open tasks and a conversation that already has `history_turns` turns (not measured), so that
    every measured turn reads and sends a full history, as in a conversation that has been going for a while."""
    todo = TodoClient(connection, acting_for=f"load-{plan.tag}-{index}")
    conversation_id = str(todo.create_conversation().conversation_id)
    rng = random.Random(f"{plan.seed}-{index}")
    added = [todo.call("add_task", title=f"{rng.choice(TITLES)} {n}", priority="medium") for n in range(SEED_TASKS)]
    listing = todo.call("list_tasks", status="open")
    history: list[MessageIn] = []
    for number in range(plan.history_turns):
        name, result = ("list_tasks", listing) if number % 3 == 0 else ("add_task", added[number % len(added)])
        text = LIST_TEXT if name == "list_tasks" else f"add '{result['title']}' priority medium due 2030-01-01"
        call = intended_call(text)
        assert call is not None
        tool_call = {"id": f"seed-{number}", "type": "function", "function": {"name": name, "arguments": ""}}
        tool_call["function"]["arguments"] = json.dumps(call.arguments)
        history += [
            MessageIn(role="user", content=text),
            MessageIn.model_validate({"role": "assistant", "content": "", "tool_calls": [tool_call]}),
            MessageIn(role="tool", tool_call_id=f"seed-{number}", content=json.dumps(result, separators=(",", ":"))),
            MessageIn(role="assistant", content=CONFIRMATIONS[name]),
        ]
    if history:
        todo.append_messages(conversation_id, history)
    return SimulatedUser(todo, conversation_id, rng, plan.think_mean, [task["id"] for task in added])


def play(agent: Agent, rounds: RoundCounter, plan: LoadPlan, user: SimulatedUser, start: float) -> list[TurnRecord]:
    """Turns until the run's end: the first after a think time too, so users arrive spread out."""
    deadline = start + plan.duration
    records: list[TurnRecord] = []
    due = start + user.think()
    for _ in range(plan.max_turns):
        if due >= deadline:
            break
        time.sleep(max(0.0, due - time.perf_counter()))
        records.append(take_turn(agent, rounds, user, time.perf_counter() - start))
        due = time.perf_counter() + user.think()
    return records


def run_ui(plan: LoadPlan, indices: Sequence[int], ready: Callable[[], None]) -> list[TurnRecord]:
    """One UI process: its users as threads over one MCP connection; `ready` is called when all are set up."""
    rounds = RoundCounter()
    connection = McpConnection(plan.mcp_url, TOKEN)
    try:
        agent = make_agent(connection, plan.model_url, rounds)
        warm_up = setup_user(connection, plan, -1)
        for _ in range(5):  # imports, connection pools, schemas, the tool list
            take_turn(agent, rounds, warm_up, 0)
        with ThreadPoolExecutor(max_workers=max(1, len(indices)), thread_name_prefix="user") as pool:
            users = list(pool.map(lambda index: setup_user(connection, plan, index), indices))
            ready()
            start = time.perf_counter()
            per_user = list(pool.map(lambda user: play(agent, rounds, plan, user, start), users))
        return [record for records in per_user for record in records]
    finally:
        connection.close()


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


# ----------------------------------------------------------------------------------------------------------------
# The fake model in its own process (in production the model's CPU is not the UI process's)


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


# ----------------------------------------------------------------------------------------------------------------
# CPU used by each tier, from /proc (Linux)

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _processes() -> dict[int, tuple[int, float, float]]:
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


def _cmdline(pid: int) -> str:
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
        table = _processes()
        return {"machine": _machine_busy(), **{tier.name: tier.cpu(table) for tier in self.tiers}}

    def start(self) -> None:
        self._before, self._started = self._read(), time.perf_counter()

    def stop(self) -> dict[str, float]:
        after, self.wall = self._read(), time.perf_counter() - self._started
        cores = {name: (after[name] - before) / self.wall for name, before in self._before.items()}
        cores["other"] = cores.pop("machine") - sum(cores[tier.name] for tier in self.tiers)
        return cores


@dataclass(frozen=True)
class Stack:
    database_url: str
    mcp_url: str
    server_pid: int
    postgres_pid: int

    @classmethod
    def find(cls, database_url: str, base: str) -> Stack:
        table = _processes()
        server = [
            pid for pid, (parent, _, _) in table.items() if parent == os.getpid() and "mcp_server" in _cmdline(pid)
        ]
        port = database_url.rsplit(":", 1)[1].split("/", 1)[0]
        postgres = [pid for pid in table if re.search(rf"postgres .*-p {port}\b", _cmdline(pid))]
        return cls(database_url, f"{base}/mcp", server[0] if server else -1, postgres[0] if postgres else -1)


# ----------------------------------------------------------------------------------------------------------------
# One measured point


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
            turns, meter, cores = _run_ui_processes(plan, ui_processes, tiers, profile, stack.server_pid)
    # Turns start within `duration`; a run of back-to-back turns that hits max_turns first ends earlier.
    wall = min(duration, meter.wall)
    return Point(users, ui_processes, model_latency, wall, turns, cores, model.errors, think_mean)


def _run_ui_processes(
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


@contextlib.contextmanager
def profiling(folder: Path | None, server_pid: int, ui_pids: list[int], seconds: float) -> Iterator[Callable[[], None]]:
    """py-spy (GIL-holding samples, raw collapsed stacks) of the MCP server and the UI process(es), started by
    the callable once the users are set up; summarised when the block ends."""
    recorders: list[tuple[str, Path, subprocess.Popen[bytes]]] = []
    spy = Path(sys.executable).parent / "py-spy"

    def start() -> None:
        if folder is None:
            return
        folder.mkdir(parents=True, exist_ok=True)
        for name, pid in [("mcp", server_pid), *((f"ui{i}", pid) for i, pid in enumerate(ui_pids))]:
            out = folder / f"profile-{name}.txt"
            command = [str(spy), "record", "--gil", "--nonblocking", "--full-filenames", "--format", "raw"]
            command += ["-r", str(PROFILE_RATE), "-d", str(int(seconds)), "-o", str(out), "-p", str(pid)]
            recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            recorders.append((name, out, recorder))

    try:
        yield start
    finally:
        for name, out, recorder in recorders:
            try:
                recorder.wait(timeout=seconds + 30)
            except subprocess.TimeoutExpired:
                recorder.kill()
            if out.exists():
                process = "the MCP server" if name == "mcp" else f"UI process {name[2:]}"
                print(f"\nProfile of {process} during the run reported next ({out.relative_to(ROOT)}):")
                print(profile_summary(out, seconds))


def _package(frame: str) -> str:
    """'sqlalchemy', 'app', 'stdlib asyncio', ... for a py-spy frame 'function (path:line)'."""
    path = frame.rsplit("(", 1)[-1]
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].split(".", 1)[0]
    if path.startswith(str(ROOT)):
        return path[len(str(ROOT)) + 1 :].split("/", 1)[0]
    module = path.rsplit("/lib/python3", 1)[-1].split("/", 2)
    return f"stdlib {module[1].split('.', 1)[0] if len(module) > 1 else path}"


def profile_summary(path: Path, seconds: float, top: int = 12) -> str:
    """Share of wall time the process held the GIL, by package (self and inclusive) and the top functions."""
    self_by_package: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count, frames = int(count_text), stack.split(";")
        total += count
        self_by_package[_package(frames[-1])] += count
        functions[re.sub(r":\d+\)$", ")", frames[-1]).replace(str(ROOT) + "/", "")] += count
        for package in {_package(frame) for frame in frames}:
            inclusive[package] += count
    ticks = PROFILE_RATE * seconds
    lines = [f"GIL held in {total / ticks:.0%} of the run ({total} samples at {PROFILE_RATE} Hz)"]
    lines.append("| package | self % of GIL time | inclusive % |\n|---|---:|---:|")
    for package, count in self_by_package.most_common(top):
        lines.append(f"| {package} | {count / max(1, total):.0%} | {inclusive[package] / max(1, total):.0%} |")
    lines.append("| function (leaf) | % of GIL time |\n|---|---:|")
    for function, count in functions.most_common(top):
        lines.append(f"| `{function[:110]}` | {count / max(1, total):.1%} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------------
# Reports


def point_report(title: str, point: Point) -> None:
    rows = [point.turn_summary(), point.overhead_summary(), point.tool_summary()]
    rows += [point.tool_summary(name) for name in TASK_TOOLS]
    rounds = [turn.model_rounds for turn in point.ok_turns]
    print(f"\n### {title}\n{HEADER}")
    for row in rows:
        print(row.row())
    rate = len(point.turns) / point.duration
    in_flight = rate * sum(turn.seconds for turn in point.turns) / max(1, len(point.turns))  # Little's law
    print(
        f"\n{len(point.turns)} turns in {point.duration:.0f} s = {rate:.1f} turns/s (a closed loop: about "
        f"{point.users} / (think time + turn time)); {in_flight:.1f} turns in flight on average; model rounds per "
        f"turn {sum(rounds) / max(1, len(rounds)):.2f}; errors: {point.turn_errors} turns, {point.tool_errors} tool calls"
    )
    print(point.cpu_lines())
    failures = Counter(turn.error for turn in point.turns if turn.error)
    for error, count in failures.most_common(5):
        print(f"- {count} x {error[:200]}")


def saturation_report(points: list[Point], limit_ms: float, think_mean: float) -> None:
    print(
        f"\n### Saturation (think time mean {think_mean:g} s; ends after p99 turn overhead passes {limit_ms:.0f} ms)\n"
        "| users | UI procs | turns | turns/s | tool calls/s | overhead p50 ms | p95 ms | p99 ms | tool p50 ms "
        "| tool p99 ms | errors | cores UI / MCP / PG / model / other | CPU ms/turn UI / MCP / PG / model |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
    )
    for point in points:
        overhead, tool = point.overhead_summary(), point.tool_summary()
        cores = " / ".join(f"{point.cores[name]:.2f}" for name in ("UI", "MCP server", "Postgres", "model", "other"))
        per_turn = " / ".join(
            f"{point.cpu_ms_per_turn(name):.1f}" for name in ("UI", "MCP server", "Postgres", "model")
        )
        print(
            f"| {point.users} | {point.ui_processes} | {len(point.turns)} | {len(point.turns) / point.duration:.1f} "
            f"| {tool.per_second:.1f} | {overhead.p50:.1f} | {overhead.p95:.1f} | {overhead.p99:.1f} "
            f"| {tool.p50:.2f} | {tool.p99:.2f} | {point.turn_errors + point.tool_errors} | {cores} | {per_turn} |"
        )


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


Round = tuple[dict[str, list[float]], int, float]  # (seconds by tool, errors, wall seconds): bench.tool_latency's


def _all(name: str, measured: Round) -> Summary:
    latencies, errors, wall = measured
    return summarize(name, [x for operation in OPERATIONS for x in latencies[operation]], errors, wall)


def floor_report(single: Point, loaded: Point, wire: Round, floor_one: Round, floor_many: Round) -> None:
    """The agent's tool calls beside a thin wire-level client and the raw SQL floor, with their p50 ratios."""
    through_agent = single.tool_summary(label="tool call through the agent, 1 user back to back")
    under_load = loaded.tool_summary(label=f"tool call through the agent, {loaded.users} users")
    thin = _all("tool call, 1 client, thin JSON-RPC client (add/list/complete)", wire)
    sql_one = _all("SQL floor, 1 client (same statements, psycopg)", floor_one)
    sql_many = _all(f"SQL floor, {loaded.users} clients back to back", floor_many)
    print(f"\n### Tool calls beside the raw SQL floor\n{HEADER}")
    for row in (through_agent, under_load, thin, sql_one, sql_many):
        print(row.row())
    ratio = through_agent.p50 / sql_one.p50
    print(f"\np50 ratio, tool call through the agent (1 user) / SQL floor (1 client): {ratio:.1f}x")
    print(f"p50 ratio, thin client (1 client) / SQL floor (1 client): {thin.p50 / sql_one.p50:.1f}x")
    print(
        f"p50 ratio, tool call at {loaded.users} users / SQL floor at {loaded.users} clients: "
        f"{under_load.p50 / sql_many.p50:.1f}x (the floor's clients never pause: a far heavier load)"
    )


def targets_report(loaded: Point, single: Point) -> None:
    overhead, tool = loaded.overhead_summary(), single.tool_summary()
    errors = loaded.turn_errors + loaded.tool_errors
    checks = [
        (f"turn overhead p95 at {loaded.users} users <= 100 ms", overhead.p95, overhead.p95 <= 100),
        (f"turn overhead p99 at {loaded.users} users <= 200 ms", overhead.p99, overhead.p99 <= 200),
        (f"errors at {loaded.users} users = 0", errors, errors == 0),
        ("tool call p50 at 1 client (through the agent) <= 3 ms", tool.p50, tool.p50 <= 3),
    ]
    print("\n### Targets\n| target | measured | met |\n|---|---:|---|")
    for name, value, met in checks:
        print(f"| {name} | {value:.2f} | {'yes' if met else 'NO'} |")


# ----------------------------------------------------------------------------------------------------------------


def code_version() -> str:
    """The commit measured, and whether app/ or mcp_server/ differ from it (read-only git)."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "app", "mcp_server"], cwd=ROOT, env=env)
    except OSError:
        return "unknown"
    return head.stdout.strip() + (" with uncommitted changes in app/ or mcp_server/" if dirty.returncode else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100, help="simulated users in the main runs")
    parser.add_argument("--duration", type=float, default=60, help="seconds of each main run")
    parser.add_argument("--think", type=float, default=5.0, help="mean think time between turns, seconds")
    parser.add_argument("--slow-model", type=float, default=0.5, help="model latency of the second run, seconds")
    parser.add_argument("--levels", default="10,25,50,100,200,400", help="users per saturation point")
    parser.add_argument("--point-duration", type=float, default=25, help="seconds per saturation point")
    parser.add_argument("--p99-limit", type=float, default=200, help="ms of turn overhead p99 that ends the curve")
    parser.add_argument("--full-curve", action="store_true", help="run every level, past the p99 limit too")
    parser.add_argument("--ui-processes", default="1", help="UI processes to split users over; '1,2' = both")
    parser.add_argument("--workers", type=int, default=1, help="MCP server processes (MCP_WORKERS)")
    parser.add_argument("--single-turns", type=int, default=200, help="back-to-back turns of the 1-user point")
    parser.add_argument("--floor-calls", type=int, default=3000, help="calls in the SQL floor at --users clients")
    parser.add_argument("--history", type=int, default=10, help="earlier turns already in each conversation")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="py-spy the main run (raw stacks in artifacts/)")
    parser.add_argument("--skip", default="", help="parts to leave out: slow,curve (comma-separated)")
    args = parser.parse_args()
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    processes = [int(x) for x in args.ui_processes.split(",")]
    began = time.perf_counter()
    with running_stack(args.workers) as (database_url, base):
        stack = Stack.find(database_url, base)
        print(
            f"\n## Load: {args.users} simulated users, think time mean {args.think:g} s, {args.duration:g} s per run "
            f"({args.workers} MCP server process(es); machine: {os.cpu_count()} cores, load average "
            f"{os.getloadavg()[0]:.1f} before the run); "
            f"code: {code_version()}"
        )
        common: dict[str, Any] = {"seed": args.seed, "history_turns": args.history}
        single = measure(stack, 1, 120, think_mean=0, max_turns=args.single_turns, **common)
        point_report(f"1 user, {args.single_turns} turns back to back, model instant", single)
        rounds = max(1, args.floor_calls // len(OPERATIONS))
        wire = asyncio.run(tool_round(stack.mcp_url, 1, min(rounds, 200)))
        floor_one = asyncio.run(sql_round(database_url, 1, min(rounds, 200)))
        floor_many = asyncio.run(sql_round(database_url, args.users, max(1, rounds // args.users)))

        loaded: dict[int, Point] = {}
        for count in processes:
            profile = ROOT / "artifacts" if args.profile and count == processes[0] else None
            loaded[count] = point = measure(
                stack, args.users, args.duration, ui_processes=count, think_mean=args.think, profile=profile, **common
            )
            point_report(f"{args.users} users, {count} UI process(es), model instant", point)
        if "slow" not in skip:
            slow = measure(
                stack, args.users, args.duration, model_latency=args.slow_model, think_mean=args.think, **common
            )
            point_report(
                f"{args.users} users, 1 UI process, model answering after {args.slow_model * 1000:.0f} ms", slow
            )
        main_point = loaded[processes[0]]
        floor_report(single, main_point, wire, floor_one, floor_many)
        targets_report(main_point, single)

        if "curve" not in skip:
            curves: dict[int, list[Point]] = {}
            for count in processes:
                curve = curves[count] = []
                for users in (int(x) for x in args.levels.split(",")):
                    point = measure(
                        stack, users, args.point_duration, ui_processes=count, think_mean=args.think, **common
                    )
                    curve.append(point)
                    print(
                        f"... {users} users, {count} UI process(es): p99 overhead {point.overhead_summary().p99:.0f} ms"
                    )
                    if point.overhead_summary().p99 > args.p99_limit and not args.full_curve:
                        break
                saturation_report(curve, args.p99_limit, args.think)
            plot(curves, args.p99_limit, args.think, PLOTS)
    print(f"\nwhole run: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
