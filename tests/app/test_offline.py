"""Tests for the offline assistant: the phrase parser and running intents through a fake tool server."""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.offline import (
    FALLBACK_NOTICE,
    HELP_EXAMPLES,
    HELP_TEXT,
    AddTask,
    Complete,
    Delete,
    Help,
    Intent,
    ListTasks,
    Rename,
    Reopen,
    SetDue,
    SetPriority,
    TaskRef,
    ToolCallError,
    Unknown,
    parse,
    run_offline,
)

TODAY = date(2026, 11, 26)  # a Thursday
FRI = date(2026, 11, 27)
NEXT_MON = date(2026, 11, 30)


NO_TITLE = "What should the task be called? For example: “add buy milk tomorrow”."
WHOLE_TASKS_ONLY = "Offline I can only delete whole tasks, e.g. “delete 3”."
BAD_DATE = "I couldn't read the date “blah”. Try today, tomorrow, friday, next week, in 3 days or 2026-12-01."


def which_task(example: str) -> str:
    return f"Which task do you mean? Give its number or words from its title, e.g. “{example}”."


def n(number: int) -> TaskRef:
    return TaskRef(number=number)


def w(words: str) -> TaskRef:
    return TaskRef(words=words)


# --------------------------------------------------------------------------------------------------
# parse(): phrase table
# --------------------------------------------------------------------------------------------------

PHRASES: list[tuple[str, Intent]] = [
    # add
    ("add buy milk", AddTask("buy milk")),
    ("add 'send Q3 report' for Friday, high priority", AddTask("send Q3 report", "high", FRI)),
    ('add "send Q3 report" for Friday, high priority', AddTask("send Q3 report", "high", FRI)),
    ("add ‘send Q3 report’ for Friday, high priority", AddTask("send Q3 report", "high", FRI)),
    ("add task call mom by friday", AddTask("call mom", due_date=FRI)),
    ("add a task to call mom by fri", AddTask("call mom", due_date=FRI)),
    ("new task water the plants", AddTask("water the plants")),
    ("new task: water the plants", AddTask("water the plants")),
    ("create dentist appointment", AddTask("dentist appointment")),
    ("todo: pay bills", AddTask("pay bills")),
    ("remind me to send the report tomorrow", AddTask("send the report", due_date=FRI)),
    ("remind me tomorrow to call mom", AddTask("call mom", due_date=FRI)),
    ("add to my list: buy milk", AddTask("buy milk")),
    ("add pay rent due 2026-12-01", AddTask("pay rent", due_date=date(2026, 12, 1))),
    ("add fix bug #work #urgent", AddTask("fix bug", tags=("work", "urgent"))),
    ("add fix bug #Work #work", AddTask("fix bug", tags=("work",))),
    # Tag phrases after the title (issue 13: "…, low priority, tag health" became "call the dentist,, tag health").
    ("add call the dentist, low priority, tag health", AddTask("call the dentist", "low", tags=("health",))),
    ("add 'book flights' tagged travel", AddTask("book flights", tags=("travel",))),
    ("add pay rent, tags home, bills, high priority", AddTask("pay rent", "high", tags=("home", "bills"))),
    ("add call mom tagged family and weekly", AddTask("call mom", tags=("family", "weekly"))),
    ("add plan the tag line", AddTask("plan the tag line")),  # a bare "tag" without a comma is the title's
    ("add tag the photos", AddTask("tag the photos")),
    ("add x low priority", AddTask("x", "low")),
    ("add y !high", AddTask("y", "high")),
    ("add call bank priority high", AddTask("call bank", "high")),
    ("add urgent: call the bank", AddTask("call the bank", "high")),
    ("add call the bank, urgent please", AddTask("call the bank", "high")),
    ("add renew visa, not urgent", AddTask("renew visa", "low")),
    ("Add buy milk please.", AddTask("buy milk")),
    ("please add buy milk!", AddTask("buy milk")),
    ("can you add buy milk please?", AddTask("buy milk")),
    ("add buy milk to my list", AddTask("buy milk")),
    ("i need to call the plumber", AddTask("call the plumber")),
    ("don't forget to water plants friday", AddTask("water plants", due_date=FRI)),
    ("add pay rent due 2026-12-01 #home !low please", AddTask("pay rent", "low", date(2026, 12, 1), ("home",))),
    # add: dates (today is Thursday 2026-11-26)
    ("add call mom today", AddTask("call mom", due_date=TODAY)),
    ("add call mom tonight", AddTask("call mom", due_date=TODAY)),
    ("add call mom on thursday", AddTask("call mom", due_date=TODAY)),  # same weekday: today
    ("add call mom next thursday", AddTask("call mom", due_date=date(2026, 12, 3))),
    ("add call mom on monday", AddTask("call mom", due_date=NEXT_MON)),
    ("add call mom by wednesday", AddTask("call mom", due_date=date(2026, 12, 2))),
    ("add call mom this friday", AddTask("call mom", due_date=FRI)),
    ("add call mom next friday", AddTask("call mom", due_date=date(2026, 12, 4))),  # Friday of next week
    ("add call mom friday", AddTask("call mom", due_date=FRI)),  # bare weekday at the end
    ("add read Friday newsletter", AddTask("read Friday newsletter")),  # bare weekday mid-title
    ("add call mom next week", AddTask("call mom", due_date=NEXT_MON)),
    ("add call mom in 3 days", AddTask("call mom", due_date=date(2026, 11, 29))),
    ("add call mom in two weeks", AddTask("call mom", due_date=date(2026, 12, 10))),
    ("add call mom the day after tomorrow", AddTask("call mom", due_date=date(2026, 11, 28))),
    ("add clean garage this weekend", AddTask("clean garage", due_date=date(2026, 11, 28))),
    ("add plan weekend trip", AddTask("plan weekend trip")),
    ("add call mom by 12/01", AddTask("call mom", due_date=date(2026, 12, 1))),
    ("add pay rent by 11/01", AddTask("pay rent", due_date=date(2027, 11, 1))),  # past this year: next year
    ("add call mom Dec 1", AddTask("call mom", due_date=date(2026, 12, 1))),
    ("add call mom 1 Dec", AddTask("call mom", due_date=date(2026, 12, 1))),
    ("add renew passport by 1st of December 2027", AddTask("renew passport", due_date=date(2027, 12, 1))),
    ("add renew passport by jan 5", AddTask("renew passport", due_date=date(2027, 1, 5))),
    ("add read tomorrow's agenda", AddTask("read tomorrow's agenda")),
    ("add eat 1/2 pizza", AddTask("eat 1/2 pizza")),  # m/d needs a preposition
    ("add meeting on 2026-02-30", AddTask("meeting on 2026-02-30")),  # not a real date: kept as text
    ("add C# tutorial", AddTask("C# tutorial")),
    ("add fix bug #123", AddTask("fix bug #123")),  # tags start with a letter
    # add without a title asks for one
    ("add", Unknown("add", hint=NO_TITLE)),
    ("add #work tomorrow", Unknown("add #work tomorrow", hint=NO_TITLE)),
    # list
    ("list", ListTasks()),
    ("list tasks", ListTasks()),
    ("show my tasks", ListTasks()),
    ("my tasks", ListTasks()),
    ("what's open?", ListTasks()),
    ("What’s open?", ListTasks()),
    ("what is open", ListTasks()),
    ("what do I have to do", ListTasks()),
    ("show done", ListTasks(status="done")),
    ("show completed", ListTasks(status="done")),
    ("what have I done?", ListTasks(status="done")),
    ("list all", ListTasks(status="all")),
    ("show everything", ListTasks(status="all")),
    ("what's overdue", ListTasks(overdue=True)),
    ("do I have anything overdue?", ListTasks(overdue=True)),
    ("show high priority tasks", ListTasks(priority="high")),
    ("list urgent tasks", ListTasks(priority="high")),
    ("tasks tagged work", ListTasks(tag="work")),
    ("show #work", ListTasks(tag="work")),
    ("list done tasks tagged home", ListTasks(status="done", tag="home")),
    ("find milk", ListTasks(search="milk")),
    ("what's due today?", ListTasks(due_before=FRI)),  # due_before is exclusive
    ("today", ListTasks(due_before=FRI)),
    ("what is due tomorrow", ListTasks(due_before=date(2026, 11, 28))),
    ("show tasks due this week", ListTasks(due_before=NEXT_MON)),
    ("what's due next week", ListTasks(due_before=date(2026, 12, 7))),
    ("list tasks due before 2026-12-10", ListTasks(due_before=date(2026, 12, 10))),
    ("list high priority tasks due by friday", ListTasks(priority="high", due_before=date(2026, 11, 28))),
    ("show me the report", ListTasks(search="report")),
    # complete
    ("done with the report", Complete(w("report"))),
    ("complete 3", Complete(n(3))),
    ("complete task 3", Complete(n(3))),
    ("Complete #3.", Complete(n(3))),
    ("mark 3 done", Complete(n(3))),
    ("mark 3 as done", Complete(n(3))),
    ("mark task 3 complete", Complete(n(3))),
    ("finished 3", Complete(n(3))),
    ("I finished the report", Complete(w("report"))),
    ("I'm done with the report", Complete(w("report"))),
    ("done 3", Complete(n(3))),
    ("check off 3", Complete(n(3))),
    ("3 done", Complete(n(3))),
    ("the report is done", Complete(w("report"))),
    ("set 3 to done", Complete(n(3))),
    ("complete 'send Q3 report'", Complete(w("send Q3 report"))),
    # reopen
    ("reopen 3", Reopen(n(3))),
    ("undo 3", Reopen(n(3))),
    ("mark 3 as not done", Reopen(n(3))),
    ("3 is not done", Reopen(n(3))),
    ("reopen the report", Reopen(w("report"))),
    ("change 3 to not done", Reopen(n(3))),
    # delete
    ("delete 3", Delete(n(3))),
    ("remove task 3", Delete(n(3))),
    ("delete task 3 please", Delete(n(3))),
    ("delete the milk task", Delete(w("milk"))),
    ("remove buy milk", Delete(w("buy milk"))),
    ("remove tag work from 3", Unknown("remove tag work from 3", hint=WHOLE_TASKS_ONLY)),
    # rename
    ("rename 3 to Call dad", Rename(n(3), "Call dad")),
    ("rename task 3 to 'Call dad'", Rename(n(3), "Call dad")),
    ("change 3 to Call dad", Rename(n(3), "Call dad")),
    ('change the title of 3 to "Call dad"', Rename(n(3), "Call dad")),
    ("rename the report to Final report", Rename(w("report"), "Final report")),
    ("rename 'go to bank' to 'visit the bank'", Rename(w("go to bank"), "visit the bank")),
    # set priority
    ("set priority of 3 to high", SetPriority(n(3), "high")),
    ("make 3 high priority", SetPriority(n(3), "high")),
    ("3 is urgent", SetPriority(n(3), "high")),
    ("priority 3 low", SetPriority(n(3), "low")),
    ("set 3 to low", SetPriority(n(3), "low")),
    ("set 3's priority to medium", SetPriority(n(3), "medium")),
    ("change 3 to high priority", SetPriority(n(3), "high")),
    ("mark the report as urgent", SetPriority(w("report"), "high")),
    ("3 high priority", SetPriority(n(3), "high")),
    ("prioritize 3", SetPriority(n(3), "high")),
    # set / clear due date
    ("move 3 to friday", SetDue(n(3), FRI)),
    ("set due date of 3 to 2026-12-05", SetDue(n(3), date(2026, 12, 5))),
    ("3 due tomorrow", SetDue(n(3), FRI)),
    ("3 is due on friday", SetDue(n(3), FRI)),
    ("change due of 3 to next week", SetDue(n(3), NEXT_MON)),
    ("change 3 to friday", SetDue(n(3), FRI)),
    ("postpone 3 to next monday", SetDue(n(3), NEXT_MON)),
    ("move the trip to paris to friday", SetDue(w("trip to paris"), FRI)),
    ("remove the due date from 3", SetDue(n(3), None)),
    ("3 has no due date", SetDue(n(3), None)),
    ("clear 3's due date", SetDue(n(3), None)),
    ("move 3 to someday", SetDue(n(3), None)),
    ("move 3 to blah", Unknown("move 3 to blah", hint=BAD_DATE)),
    # help
    ("help", Help()),
    ("Help!", Help()),
    ("what can you do", Help()),
    ("What can you do?", Help()),
    ("?", Help()),
    ("hello", Help()),
    # not understood
    ("buy milk", Unknown("buy milk")),
    ("what is the weather", Unknown("what is the weather")),
    ("", Unknown("")),
    ("   ", Unknown("")),
    ("please", Unknown("please")),
    ("done", Unknown("done", hint=which_task("complete 3"))),
    ("delete everything", Unknown("delete everything", hint=which_task("delete 3"))),
    ("complete it", Unknown("complete it", hint=which_task("complete 3"))),
    ("reopen", Unknown("reopen", hint=which_task("reopen 3"))),
]


@pytest.mark.parametrize(("text", "expected"), PHRASES, ids=[text or "<empty>" for text, _ in PHRASES])
def test_parse_phrase(text: str, expected: Intent) -> None:
    assert parse(text, TODAY) == expected


@pytest.mark.parametrize(
    ("today", "text", "expected"),
    [
        (date(2026, 11, 30), "add x on monday", date(2026, 11, 30)),  # Monday: plain "monday" is today
        (date(2026, 11, 30), "add x next week", date(2026, 12, 7)),  # "next week" is strictly after today
        (date(2026, 11, 29), "add x this weekend", date(2026, 11, 29)),  # Sunday: this weekend is today
        (date(2026, 12, 31), "add x next month", date(2027, 1, 1)),
        (date(2026, 12, 31), "add x tomorrow", date(2027, 1, 1)),
    ],
)
def test_relative_dates_depend_on_today(today: date, text: str, expected: date) -> None:
    intent = parse(text, today)
    assert isinstance(intent, AddTask)
    assert intent.due_date == expected


def test_long_title_is_truncated_to_200_characters() -> None:
    intent = parse("add " + "word " * 100, TODAY)
    assert isinstance(intent, AddTask)
    assert len(intent.title) <= 200
    assert intent.title == intent.title.strip()


def test_a_cut_title_says_so() -> None:
    intent = parse("add " + "x" * 256, TODAY)
    assert intent == AddTask("x" * 200, cut_from=256)
    assert parse("add " + "x" * 200, TODAY) == AddTask("x" * 200)


def test_control_characters_become_spaces() -> None:
    assert parse("add buy\x00milk\n\ttoday", TODAY) == AddTask("buy milk", due_date=TODAY)


def test_long_tags_are_cut_and_capped() -> None:
    intent = parse("add x " + " ".join(f"#t{i}" for i in range(15)) + " #" + "a" * 50, TODAY)
    assert isinstance(intent, AddTask)
    assert intent.tags == tuple(f"t{i}" for i in range(10))


@pytest.mark.parametrize("example", re.findall(r"`([^`]+)`", HELP_EXAMPLES))
def test_every_help_example_is_understood(example: str) -> None:
    assert not isinstance(parse(example, TODAY), Unknown | Help)


def test_task_ref_needs_exactly_one_field() -> None:
    with pytest.raises(ValueError):
        TaskRef()
    with pytest.raises(ValueError):
        TaskRef(number=1, words="x")


# --------------------------------------------------------------------------------------------------
# parse(): properties
# --------------------------------------------------------------------------------------------------

VOCABULARY = [
    "add", "new task", "todo:", "remind me to", "list", "show", "what's", "done", "complete", "mark", "as",
    "not", "reopen", "undo", "delete", "remove", "rename", "change", "set", "make", "move", "to", "priority",
    "high", "low", "urgent", "due", "date", "by", "on", "for", "in", "3", "days", "next", "week", "friday",
    "fri", "tomorrow", "today", "12/01", "2026-12-01", "Dec", "1st", "#work", "#", "'", '"', "please", "the",
    "task", "report", "milk", "!high", "?", ",", "from", "no", "has", "is", "of", "\x00", "ß", "İ", "😀",
]  # fmt: skip
ALL_CHARACTERS = st.characters(exclude_categories=())  # includes surrogates, NUL and other controls
COMMAND_SOUP = st.lists(st.sampled_from(VOCABULARY) | st.text(max_size=8), max_size=25).map(" ".join)
LONG_TEXT = st.builds(
    lambda prefix, chunk, times: prefix + chunk * times,
    st.sampled_from(["", "add ", "rename 3 to ", "move ", "delete ", "list ", "'"]),
    st.text(ALL_CHARACTERS, min_size=1, max_size=40),
    st.integers(min_value=1, max_value=400),
)
ANY_TEXT = st.text(ALL_CHARACTERS, max_size=300) | COMMAND_SOUP | LONG_TEXT


def _assert_well_formed(intent: Intent) -> None:
    def clean(text: str) -> bool:
        return text == text.strip() and not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text)

    match intent:
        case AddTask(title=title, priority=priority, tags=tags):
            assert 1 <= len(title) <= 200 and clean(title)
            assert priority in ("low", "medium", "high")
            assert len(tags) <= 10
            for tag in tags:
                assert 1 <= len(tag) <= 32 and tag == tag.lower() and "#" not in tag and clean(tag)
        case Rename(new_title=title):
            assert 1 <= len(title) <= 200 and clean(title)
        case ListTasks(tag=tag, search=search):
            assert tag is None or 1 <= len(tag) <= 32
            assert search is None or 1 <= len(search) <= 200
    ref = getattr(intent, "ref", None)
    if ref is not None and ref.words is not None:
        assert 1 <= len(ref.words) <= 200 and clean(ref.words)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANY_TEXT)
def test_parse_never_raises_and_produces_valid_intents(text: str) -> None:
    _assert_well_formed(parse(text, TODAY))


@settings(max_examples=200, deadline=None)
@given(st.text(ALL_CHARACTERS, max_size=300))
def test_add_with_arbitrary_title_is_valid_or_asks(text: str) -> None:
    intent = parse("add " + text, TODAY)
    assert isinstance(intent, AddTask | Unknown)
    _assert_well_formed(intent)
    if isinstance(intent, Unknown):
        assert intent.hint


@pytest.mark.parametrize(
    "text",
    ["'" * 5000, "a " * 5000, "add " + "in 3 " * 2000, "move " + "to " * 3000, "#" * 10000, "x" * 1_000_000],
)
def test_parse_is_fast_on_hostile_input(text: str) -> None:
    started = time.perf_counter()
    _assert_well_formed(parse(text, TODAY))
    assert time.perf_counter() - started < 2


# --------------------------------------------------------------------------------------------------
# run_offline(): an in-memory fake of the six MCP tools
# --------------------------------------------------------------------------------------------------


class FakeTools:
    """Implements the MCP task tools over a dict. Argument-schema violations fail the test loudly."""

    def __init__(self, today: date = TODAY) -> None:
        self.today = today
        self.tasks: dict[int, dict[str, Any]] = {}
        self.next_id = 1
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failures: dict[str, str] = {}

    def seed(self, title: str, **fields: Any) -> dict[str, Any]:
        task = self._add_task(title=title, **{k: v for k, v in fields.items() if k != "completed"})
        if fields.get("completed"):
            self._complete_task(task_id=task["id"])
        return self.tasks[task["id"]]

    def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((name, dict(arguments)))
        assert "user_id" not in arguments
        if name in self.failures:
            raise ToolCallError(self.failures[name])
        handler: Callable[..., dict[str, Any]] = getattr(self, f"_{name}")
        return handler(**arguments)

    def _get(self, task_id: int) -> dict[str, Any]:
        assert isinstance(task_id, int)
        if task_id not in self.tasks:
            raise ToolCallError(f"Task {task_id} not found.")
        return self.tasks[task_id]

    @staticmethod
    def _check(title: str | None, priority: str | None, due_date: str | None, tags: list[str] | None) -> None:
        assert title is None or 1 <= len(title) <= 200
        assert priority is None or priority in ("low", "medium", "high")
        if due_date is not None:
            date.fromisoformat(due_date)
        if tags is not None:
            assert len(tags) <= 10
            assert all(1 <= len(t) <= 32 and t == t.lower() and "#" not in t for t in tags)

    def _add_task(
        self,
        title: str,
        description: str = "",
        priority: str = "medium",
        due_date: str | None = None,
        tags: list[str] | None = None,
    ) -> dict[str, Any]:
        self._check(title, priority, due_date, tags)
        task = {
            "id": self.next_id,
            "title": title,
            "description": description,
            "priority": priority,
            "due_date": due_date,
            "tags": list(tags or []),
            "completed": False,
            "created_at": "2026-11-26T09:00:00Z",
            "updated_at": "2026-11-26T09:00:00Z",
            "completed_at": None,
        }
        self.tasks[self.next_id] = task
        self.next_id += 1
        return dict(task)

    def _list_tasks(
        self,
        status: str = "open",
        priority: str | None = None,
        tag: str | None = None,
        due_before: str | None = None,
        overdue: bool = False,
        search: str | None = None,
        sort: str = "created",
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        assert status in ("open", "done", "all")
        found = [
            dict(task)
            for task in self.tasks.values()
            if (status == "all" or task["completed"] == (status == "done"))
            and (priority is None or task["priority"] == priority)
            and (tag is None or tag in task["tags"])
            and (due_before is None or (task["due_date"] is not None and task["due_date"] < due_before))
            and (
                not overdue
                or (not task["completed"] and task["due_date"] is not None and task["due_date"] < str(self.today))
            )
            and (search is None or search.casefold() in f"{task['title']} {task['description']}".casefold())
        ]
        return {"tasks": found[offset : offset + limit], "total": len(found)}

    def _complete_task(self, task_id: int) -> dict[str, Any]:
        task = self._get(task_id)
        task.update(completed=True, completed_at="2026-11-26T10:00:00Z")
        return dict(task)

    def _reopen_task(self, task_id: int) -> dict[str, Any]:
        task = self._get(task_id)
        task.update(completed=False, completed_at=None)
        return dict(task)

    def _update_task(
        self,
        task_id: int,
        title: str | None = None,
        description: str | None = None,
        priority: str | None = None,
        due_date: str | None = None,
        clear_due_date: bool = False,
        tags: list[str] | None = None,
    ) -> dict[str, Any]:
        self._check(title, priority, due_date, tags)
        task = self._get(task_id)
        changes = {"title": title, "description": description, "priority": priority, "due_date": due_date}
        task.update({key: value for key, value in changes.items() if value is not None})
        if tags is not None:
            task["tags"] = list(tags)
        if clear_due_date:
            task["due_date"] = None
        return dict(task)

    def _delete_task(self, task_id: int) -> dict[str, Any]:
        return {"task": self.tasks.pop(self._get(task_id)["id"])}


@pytest.fixture
def tools() -> FakeTools:
    return FakeTools()


def say(tools: FakeTools, text: str, **kwargs: Any) -> str:
    """Run one message; check its recorded steps are exactly the tool calls it made."""
    before = len(tools.calls)
    reply = run_offline(text, tools, TODAY, **kwargs)
    assert [(step.name, step.arguments) for step in reply.steps] == tools.calls[before:]
    return reply.text


def test_add(tools: FakeTools) -> None:
    reply = run_offline("add 'send Q3 report' for Friday, high priority #work", tools, TODAY)
    assert reply.text == "Added task 1: **send Q3 report** (high, due Fri 2026-11-27, #work)."
    [step] = reply.steps
    assert step.name == "add_task"
    assert step.arguments == {"title": "send Q3 report", "priority": "high", "due_date": "2026-11-27", "tags": ["work"]}
    assert step.result is not None and step.result["id"] == 1 and step.error is None


def test_add_plain_and_markdown_is_escaped(tools: FakeTools) -> None:
    assert say(tools, "add buy milk") == "Added task 1: **buy milk**."
    assert say(tools, "add fix *bold* $5 bug") == "Added task 2: **fix \\*bold\\* \\$5 bug**."


def test_the_reply_to_a_cut_title_says_so(tools: FakeTools) -> None:
    reply = say(tools, "add " + "x" * 256)
    assert reply == f"Added task 1: **{'x' * 200}**. The title was 256 characters: I kept the first 200."


def test_add_without_title_asks_and_calls_nothing(tools: FakeTools) -> None:
    assert say(tools, "add #work") == NO_TITLE
    assert tools.calls == []


def test_list_empty(tools: FakeTools) -> None:
    assert say(tools, "list") == "No open tasks."
    assert tools.calls == [("list_tasks", {"status": "open"})]
    assert say(tools, "what's overdue") == "No overdue tasks."
    assert say(tools, "show high priority tasks tagged work") == "No open high-priority tasks tagged #work."


def test_list_renders_a_compact_markdown_list(tools: FakeTools) -> None:
    tools.seed("buy milk")
    tools.seed("send Q3 report", priority="high", due_date="2026-11-27", tags=["work"])
    tools.seed("pay rent", due_date="2026-11-20")
    tools.seed("old thing", completed=True)
    assert say(tools, "show my tasks") == (
        "Open tasks (3):\n"
        "- **1.** buy milk\n"
        "- **2.** send Q3 report — high, due Fri 2026-11-27, #work\n"
        "- **3.** pay rent — due Fri 2026-11-20 (**overdue**)"
    )
    assert say(tools, "show done") == "Done tasks (1):\n- **4.** ✓ old thing"
    assert (say(tools, "list all")).startswith("All tasks (4):\n")
    overdue = "Overdue tasks (1):\n- **3.** pay rent — due Fri 2026-11-20 (**overdue**)"
    assert say(tools, "what's overdue") == overdue
    assert tools.calls[-1] == ("list_tasks", {"status": "open", "overdue": True, "sort": "due"})


def test_list_due_window(tools: FakeTools) -> None:
    tools.seed("pay rent", due_date="2026-11-20")
    tools.seed("call mom", due_date="2026-11-26")
    tools.seed("buy milk", due_date="2026-11-27")
    tools.seed("no date")
    assert say(tools, "what's due today?") == (
        "Open tasks due by Thu 2026-11-26 (2):\n"
        "- **1.** pay rent — due Fri 2026-11-20 (**overdue**)\n"
        "- **2.** call mom — due Thu 2026-11-26"
    )
    assert tools.calls[-1] == ("list_tasks", {"status": "open", "due_before": "2026-11-27", "sort": "due"})
    assert say(tools, "show done tasks due this week") == "No done tasks due by Sun 2026-11-29."


def test_list_mentions_tasks_beyond_the_page(tools: FakeTools) -> None:
    for i in range(55):
        tools.seed(f"task {i}")
    text = say(tools, "list")
    assert text.startswith("Open tasks (55):\n")
    assert text.count("\n- ") == 50
    assert text.endswith("_…and 5 more._")


def test_complete_by_number(tools: FakeTools) -> None:
    tools.seed("buy milk")
    assert say(tools, "complete 1") == "Completed task 1: **buy milk**."
    assert tools.tasks[1]["completed"] is True
    assert tools.calls == [("complete_task", {"task_id": 1})]


def test_complete_by_words_one_match(tools: FakeTools) -> None:
    tools.seed("buy milk")
    tools.seed("send Q3 report")
    assert say(tools, "done with the report") == "Completed task 2: **send Q3 report**."
    assert tools.calls == [
        ("list_tasks", {"status": "open", "search": "report", "limit": 20}),
        ("complete_task", {"task_id": 2}),
    ]


def test_complete_by_words_no_match(tools: FakeTools) -> None:
    tools.seed("buy milk")
    assert say(tools, "I finished the report") == "I found no open task matching 'report'."
    assert [name for name, _ in tools.calls] == ["list_tasks", "list_tasks"]  # open, then all
    assert tools.calls[1][1]["status"] == "all"


def test_complete_by_words_several_matches_asks_which(tools: FakeTools) -> None:
    tools.seed("send Q3 report", priority="high")
    tools.seed("read report")
    text = say(tools, "done with the report")
    assert text == (
        "Several open tasks match 'report':\n"
        "- **1.** send Q3 report — high\n"
        "- **2.** read report\n"
        "Which one? Reply with its number, e.g. “complete 1”."
    )
    assert not any(task["completed"] for task in tools.tasks.values())
    assert all(name == "list_tasks" for name, _ in tools.calls)


def test_words_prefer_an_exact_title_among_several(tools: FakeTools) -> None:
    tools.seed("buy milk and eggs")
    tools.seed("Buy milk")
    assert say(tools, "remove buy milk") == "Deleted task 2: **Buy milk**."
    assert set(tools.tasks) == {1}


def test_complete_by_words_already_done(tools: FakeTools) -> None:
    tools.seed("send Q3 report", completed=True)
    assert say(tools, "complete the report") == "Task 1: **send Q3 report** is already done."
    assert "complete_task" not in [name for name, _ in tools.calls]


def test_complete_by_words_several_already_done(tools: FakeTools) -> None:
    tools.seed("send Q3 report", completed=True)
    tools.seed("read report", completed=True)
    assert say(tools, "complete the report") == "Every task matching 'report' is already done."


def test_reopen_by_number_and_by_words(tools: FakeTools) -> None:
    tools.seed("send Q3 report", completed=True)
    tools.seed("buy milk", completed=True)
    assert say(tools, "reopen 2") == "Reopened task 2: **buy milk**."
    assert say(tools, "reopen the report") == "Reopened task 1: **send Q3 report**."
    assert ("list_tasks", {"status": "done", "search": "report", "limit": 20}) in tools.calls
    assert say(tools, "reopen the report") == "Task 1: **send Q3 report** is already open."


def test_delete_by_number_and_by_words(tools: FakeTools) -> None:
    tools.seed("buy milk")
    tools.seed("call mom")
    assert say(tools, "delete 1") == "Deleted task 1: **buy milk**."
    assert say(tools, "delete the mom task") == "Deleted task 2: **call mom**."
    assert tools.tasks == {}


def test_rename(tools: FakeTools) -> None:
    tools.seed("call mum")
    assert say(tools, "rename 1 to 'Call dad'") == "Renamed task 1 to **Call dad**."
    assert tools.calls == [("update_task", {"task_id": 1, "title": "Call dad"})]
    assert say(tools, "rename the dad task to Call mom") == "Renamed task 1 to **Call mom**."


def test_set_priority(tools: FakeTools) -> None:
    tools.seed("send Q3 report")
    assert say(tools, "make 1 high priority") == "Task 1: **send Q3 report** is now high priority."
    assert tools.calls == [("update_task", {"task_id": 1, "priority": "high"})]
    assert tools.tasks[1]["priority"] == "high"


def test_set_and_clear_due_date(tools: FakeTools) -> None:
    tools.seed("send Q3 report")
    assert say(tools, "move the report to friday") == "Task 1: **send Q3 report** is now due Fri 2026-11-27."
    assert tools.tasks[1]["due_date"] == "2026-11-27"
    assert say(tools, "remove the due date from 1") == "Removed the due date from task 1: **send Q3 report**."
    assert tools.calls[-1] == ("update_task", {"task_id": 1, "clear_due_date": True})
    assert tools.tasks[1]["due_date"] is None


def test_update_acts_on_a_done_task_found_in_all(tools: FakeTools) -> None:
    tools.seed("send Q3 report", completed=True)
    assert say(tools, "set priority of the report to low") == "Task 1: **send Q3 report** is now low priority."


def test_ambiguous_update_suggests_the_full_command(tools: FakeTools) -> None:
    tools.seed("report A")
    tools.seed("report B")
    text = say(tools, "move the report to next week")
    assert text.endswith("Which one? Reply with its number, e.g. “move 1 to 2026-11-30”.")
    assert [name for name, _ in tools.calls] == ["list_tasks"]


def test_help(tools: FakeTools) -> None:
    reply = run_offline("help", tools, TODAY)
    assert reply.text == HELP_TEXT
    assert reply.steps == []
    assert "I'm the offline assistant (no language model is configured)" in HELP_TEXT


def test_unknown_lists_examples(tools: FakeTools) -> None:
    reply = run_offline("what is the weather", tools, TODAY)
    assert reply.text == f"Sorry, I didn't understand “what is the weather”. {HELP_TEXT}"
    assert reply.steps == []


def test_unknown_with_a_hint_only_shows_the_hint(tools: FakeTools) -> None:
    assert say(tools, "complete it") == which_task("complete 3")


def test_tool_error_is_shown(tools: FakeTools) -> None:
    reply = run_offline("complete 99", tools, TODAY)
    assert reply.text == "Task 99 not found."
    [step] = reply.steps
    assert (step.name, step.arguments, step.result, step.error) == (
        "complete_task",
        {"task_id": 99},
        None,
        "Task 99 not found.",
    )


def test_hint_escapes_user_text(tools: FakeTools) -> None:
    assert say(tools, "move 3 to *soon*") == BAD_DATE.replace("blah", "\\*soon\\*")


def test_tool_error_while_searching(tools: FakeTools) -> None:
    tools.failures["list_tasks"] = "The task server is unavailable."
    assert say(tools, "delete the milk task") == "The task server is unavailable."


def test_fallback_reason_adds_a_notice(tools: FakeTools) -> None:
    reply = run_offline("add buy milk", tools, TODAY, fallback_reason="timeout")
    notice = FALLBACK_NOTICE.format(reason="timeout")
    assert reply.text == f"_{notice}_\n\nAdded task 1: **buy milk**."
    help_reply = run_offline("help", tools, TODAY, fallback_reason="rate_limited")
    assert "no language model is configured" not in help_reply.text
    assert help_reply.text.startswith("_The model is unavailable (rate\\_limited), so the offline assistant")
    assert help_reply.text.endswith(HELP_EXAMPLES)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANY_TEXT)
def test_run_offline_never_raises(text: str) -> None:
    fake = FakeTools()
    fake.seed("buy milk")
    fake.seed("send Q3 report", completed=True)
    reply = run_offline(text, fake, TODAY)
    assert reply.text
    assert len(reply.steps) == len(fake.calls)
