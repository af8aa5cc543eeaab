"""What the simulated users say, the scripted model's answer to it (a tool call, then a short text), and the
user who says it."""

from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import dataclass, field
from typing import Any

from app.client import TodoClient
from app.steps import ToolStep
from contract.tools import ADD_TASK, COMPLETE_TASK, LIST_TASKS, UPDATE_TASK
from devtools.fake_model import Call, Reply, Text, ToolCalls

WORKLOAD_TOOLS = (LIST_TASKS, ADD_TASK, COMPLETE_TASK, UPDATE_TASK)  # the tools the users' messages call
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
    LIST_TASKS: "Here are your open tasks, one per line.",
    ADD_TASK: "Added it to your list.",
    COMPLETE_TASK: "Nice, marked it as done.",
    UPDATE_TASK: "Updated the task.",
}
TITLES = ("send Q3 report", "call the plumber", "book dentist", "renew passport", "buy milk", "review PR", "pay rent")


def intended_call(text: str) -> Call | None:
    """The tool call a good model makes for one of the simulated users' messages."""
    if text == LIST_TEXT:
        return Call(LIST_TASKS, {"status": "open"})
    if match := ADD.fullmatch(text):
        return Call(ADD_TASK, {"title": match["title"], "priority": match["priority"], "due_date": match["due"]})
    if match := DONE.fullmatch(text):
        return Call(COMPLETE_TASK, {"task_id": int(match["task"])})
    if match := MOVE.fullmatch(text):
        return Call(UPDATE_TASK, {"task_id": int(match["task"]), "due_date": match["due"]})
    if match := RANK.fullmatch(text):
        return Call(UPDATE_TASK, {"task_id": int(match["task"]), "priority": match["priority"]})
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
        if step.name == ADD_TASK:
            self.open_tasks.append(int(step.result["id"]))
        elif step.name == COMPLETE_TASK and step.arguments.get("task_id") in self.open_tasks:
            self.open_tasks.remove(step.arguments["task_id"])
