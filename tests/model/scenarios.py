"""What people type, and what their task list must look like afterwards.

Each scenario starts from a fresh user with the tasks in `tasks` (numbered 1, 2, ... in that order), sends the
messages in `says` as one turn each through the real agent, then reads the tasks back through MCP. `check` says
what is wrong, or None when the scenario passed. Checks look at the task state and at what the server answered
the model's list calls, never at the reply's wording. Expected dates are computed here, independently of the
date rules under test.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.steps import ToolStep
from contract.schemas import TaskOut
from contract.tools import LIST_TASKS


@dataclass(frozen=True)
class Outcome:
    today: dt.date
    before: dict[int, TaskOut]
    after: dict[int, TaskOut]
    steps: list[ToolStep]

    @property
    def added(self) -> list[TaskOut]:
        return [task for number, task in sorted(self.after.items()) if number not in self.before]

    def listed(self) -> list[set[int]]:
        """The task numbers each successful list_tasks call returned, in call order."""
        return [
            {task["id"] for task in step.result["tasks"]}
            for step in self.steps
            if step.name == LIST_TASKS and step.error is None and step.result is not None
        ]


Check = Callable[[Outcome], str | None]


@dataclass(frozen=True)
class Scenario:
    name: str
    says: tuple[str, ...]
    check: Check
    tasks: tuple[dict[str, Any], ...] = field(default=())  # add_task arguments, plus "done": True to complete it


# --- the dates people mean, computed plainly ---------------------------------------------------------------------


def upcoming(today: dt.date, weekday: int) -> set[dt.date]:
    """ "Friday": the next one; said on a Friday, today or a week on are both fair."""
    ahead = (weekday - today.weekday()) % 7
    return {today + dt.timedelta(days=ahead or 7)} | ({today} if ahead == 0 else set())


def next_week_monday(today: dt.date) -> set[dt.date]:
    return {today + dt.timedelta(days=7 - today.weekday())}


def next_week(today: dt.date) -> set[dt.date]:
    """ "Next week": any day of it (Monday to Sunday), a week from today among them."""
    monday = min(next_week_monday(today))
    return {monday + dt.timedelta(days=offset) for offset in range(7)}


def days_on(today: dt.date, days: int) -> set[dt.date]:
    return {today + dt.timedelta(days=days)}


# --- checks --------------------------------------------------------------------------------------------------------


def _fields(task: TaskOut, expected: dict[str, Any], today: dt.date) -> str | None:
    for name, want in expected.items():
        have = getattr(task, name)
        if name == "title":
            if not all(word.lower() in have.lower() for word in want):
                return f"task {task.id}'s title is {have!r}, expected it to hold {want}"
        elif name == "due_date" and callable(want):
            if have not in want(today):
                return f"task {task.id} is due {have}, expected one of {sorted(want(today))}"
        elif name == "tags":
            if not set(want) <= set(have):
                return f"task {task.id}'s tags are {have}, expected {want}"
        elif have != want:
            return f"task {task.id}'s {name} is {have!r}, expected {want!r}"
    return None


def adds(*expected: dict[str, Any]) -> Check:
    """Exactly these new tasks (fields checked as in _fields), and nothing else changed."""

    def check(outcome: Outcome) -> str | None:
        if len(outcome.added) != len(expected):
            titles = [task.title for task in outcome.added]
            return f"{len(outcome.added)} tasks added ({titles}), expected {len(expected)}"
        for task, want in zip(outcome.added, expected, strict=True):
            if (problem := _fields(task, want, outcome.today)) is not None:
                return problem
        return unchanged_except(outcome, set(), added_ok=True)

    return check


def changes(number: int, **expected: Any) -> Check:
    """Task `number` now has these fields, and no other task changed or appeared."""

    def check(outcome: Outcome) -> str | None:
        task = outcome.after.get(number)
        if task is None:
            return f"task {number} is gone"
        return _fields(task, expected, outcome.today) or unchanged_except(outcome, {number})

    return check


def deletes(number: int) -> Check:
    def check(outcome: Outcome) -> str | None:
        if number in outcome.after:
            return f"task {number} ({outcome.after[number].title!r}) is still there"
        return unchanged_except(outcome, {number})

    return check


def lists(*expected: set[int]) -> Check:
    """A list call answered exactly one of these sets of task numbers, and nothing changed."""

    def check(outcome: Outcome) -> str | None:
        answered = outcome.listed()
        if not any(numbers in answered for numbers in expected):
            wanted = " or ".join(str(sorted(numbers)) for numbers in expected)
            return f"no list call answered tasks {wanted} (they answered {[sorted(s) for s in answered]})"
        return unchanged_except(outcome, set())

    return check


def nothing_changes(outcome: Outcome) -> str | None:
    return unchanged_except(outcome, set())


def unchanged_except(outcome: Outcome, numbers: set[int], *, added_ok: bool = False) -> str | None:
    for number, before in outcome.before.items():
        if number in numbers:
            continue
        after = outcome.after.get(number)
        if after is None:
            return f"task {number} ({before.title!r}) was deleted"
        if after.model_dump(exclude={"updated_at", "completed_at"}) != before.model_dump(
            exclude={"updated_at", "completed_at"}
        ):
            return f"task {number} ({before.title!r}) changed"
    if outcome.added and not added_ok:
        return f"tasks were added: {[task.title for task in outcome.added]}"
    return None


# --- the user's lists --------------------------------------------------------------------------------------------

ERRANDS = (
    {"title": "buy milk", "tags": ["home"]},
    {"title": "send Q3 report", "priority": "high", "tags": ["work"]},
    {"title": "call the dentist", "priority": "low", "tags": ["health"]},
    {"title": "water the plants", "tags": ["home"], "done": True},
)
WORK = (
    {"title": "prepare the slides", "tags": ["work"]},
    {"title": "book flights to Lisbon", "priority": "high", "tags": ["travel"]},
    {"title": "review Anna's pull request", "tags": ["work"]},
)

FRIDAY, MONDAY = 4, 0

SCENARIOS: tuple[Scenario, ...] = (
    # Adding
    Scenario("add a plain task", ("add buy milk",), adds({"title": ["milk"]})),
    Scenario(
        "add with a priority",
        ("add 'send Q3 report', high priority",),
        adds({"title": ["q3", "report"], "priority": "high"}),
    ),
    Scenario(
        "add for a weekday with a priority",
        ("add 'send Q3 report' for Friday, high priority",),
        adds({"title": ["q3", "report"], "priority": "high", "due_date": lambda t: upcoming(t, FRIDAY)}),
    ),
    Scenario(
        "add for tomorrow",
        ("remind me to call mom tomorrow",),
        adds({"title": ["call", "mom"], "due_date": lambda t: days_on(t, 1)}),
    ),
    Scenario(
        "add in a few days",
        ("add renew passport in 3 days",),
        adds({"title": ["passport"], "due_date": lambda t: days_on(t, 3)}),
    ),
    Scenario(
        "add for next week",
        ("I need to file my expenses next week",),
        adds({"title": ["expenses"], "due_date": next_week}),
    ),
    Scenario(
        "add on an exact date",
        ("add pay rent due 2027-01-01",),
        adds({"title": ["rent"], "due_date": lambda t: {dt.date(2027, 1, 1)}}),
    ),
    Scenario(
        "add with a tag",
        ("add 'book flights' tagged travel",),
        adds({"title": ["book", "flights"], "tags": ["travel"]}),
    ),
    Scenario(
        "add two at once",
        ("add buy eggs and buy bread",),
        adds({"title": ["eggs"]}, {"title": ["bread"]}),
    ),
    # Listing
    Scenario("list what is open", ("what's open?",), lists({1, 2, 3}), ERRANDS),
    Scenario("list by priority", ("show my high priority tasks",), lists({2}), ERRANDS),
    Scenario("list by tag", ("what's tagged home?",), lists({1}, {1, 4}), ERRANDS),
    Scenario("list what is done", ("what have I finished?",), lists({4}), ERRANDS),
    # Changing by number
    Scenario("complete by number", ("complete task 2",), changes(2, completed=True), ERRANDS),
    Scenario("reopen by number", ("reopen task 4",), changes(4, completed=False), ERRANDS),
    Scenario(
        "rename by number",
        ("rename task 1 to 'buy oat milk'",),
        changes(1, title=["oat", "milk"]),
        ERRANDS,
    ),
    Scenario(
        "reschedule by number",
        ("move task 3 to next monday",),
        changes(3, due_date=lambda t: upcoming(t, MONDAY) | next_week_monday(t)),
        ERRANDS,
    ),
    Scenario("delete by number", ("delete task 3",), deletes(3), ERRANDS),
    # Changing by words
    Scenario("complete by words", ("done with the report",), changes(2, completed=True), ERRANDS),
    Scenario("delete by words", ("remove the dentist task",), deletes(3), ERRANDS),
    Scenario("priority by words", ("make the slides high priority",), changes(1, priority="high"), WORK),
    Scenario(
        "reschedule by words",
        ("push the flights to Friday",),
        changes(2, due_date=lambda t: upcoming(t, FRIDAY)),
        WORK,
    ),
    # Follow-ups that refer to an earlier list
    Scenario(
        "follow-up: complete the second one",
        ("what's open?", "complete the second one"),
        changes(2, completed=True),
        WORK,
    ),
    Scenario(
        "follow-up: delete from a filtered list",
        ("show my work tasks", "delete the last one"),
        deletes(3),
        WORK,
    ),
    # No tool needed
    Scenario("a question about the assistant", ("what can you do?",), nothing_changes, ERRANDS),
    Scenario("thanks", ("thanks, that's all for now!",), nothing_changes, ERRANDS),
)
