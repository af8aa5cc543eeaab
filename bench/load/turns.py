"""A chat turn as the page takes it (`Agent.run_turn`), timed, and one UI process: the agent, one shared MCP
connection, a thread per user."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx2
import openai

from app.agent import Agent, Notice, StepFinished, StepStarted
from app.client import McpConnection, TodoClient
from app.settings import UISettings
from bench.common import SERVICE_TOKEN as TOKEN
from bench.load.workload import CONFIRMATIONS, LIST_TEXT, SEED_TASKS, TITLES, SimulatedUser, intended_call
from contract.schemas import MessageIn
from contract.tools import ADD_TASK, LIST_TASKS


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
    added = [
        todo.call_tool(ADD_TASK, {"title": f"{rng.choice(TITLES)} {n}", "priority": "medium"})
        for n in range(SEED_TASKS)
    ]
    listing = todo.call_tool(LIST_TASKS, {"status": "open"})
    history: list[MessageIn] = []
    for number in range(plan.history_turns):
        name, result = (LIST_TASKS, listing) if number % 3 == 0 else (ADD_TASK, added[number % len(added)])
        text = LIST_TEXT if name == LIST_TASKS else f"add '{result['title']}' priority medium due 2030-01-01"
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
