"""Running an intent through the MCP tools: the ``_Runner`` that calls them and resolves task
references, and ``run_offline``, the entry point the chat UI uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final, Literal

from app.client import ToolError
from app.offline.intents import (
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
    Unknown,
)
from app.offline.parse import parse
from app.offline.replies import (
    FALLBACK_HELP_INTRO,
    FALLBACK_NOTICE,
    HELP_EXAMPLES,
    HELP_INTRO,
    capitalize,
    error_for_people,
    example_command,
    format_date,
    list_label,
    list_line,
    task_details,
    task_name,
    unwrap_task,
)
from app.offline.text import escape_markdown, snippet
from app.steps import ToolCaller, ToolStep
from contract.schemas import Status
from contract.tools import ADD_TASK, COMPLETE_TASK, DELETE_TASK, LIST_TASKS, REOPEN_TASK, UPDATE_TASK

SEARCH_LIMIT: Final = 20
MAX_CANDIDATES_SHOWN: Final = 10


# A tool call failed; the message is fit to show the user. The same class the MCP client raises.
ToolCallError = ToolError


@dataclass
class OfflineReply:
    text: str
    steps: list[ToolStep] = field(default_factory=list)


@dataclass
class _Runner:
    tools: ToolCaller
    today: date
    steps: list[ToolStep] = field(default_factory=list)

    def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        step = ToolStep(name=name, arguments=dict(arguments))
        self.steps.append(step)
        try:
            result = self.tools.call_tool(name, arguments)
        except ToolCallError as exc:
            step.error = str(exc) or exc.__class__.__name__
            raise
        step.result = result
        return result

    def run(self, intent: Intent, help_intro: str) -> str:
        try:
            return self._dispatch(intent, help_intro)
        except ToolCallError as exc:
            return escape_markdown(error_for_people(str(exc)) or "The tool call failed.")

    def _dispatch(self, intent: Intent, help_intro: str) -> str:
        match intent:
            case Help():
                return f"{help_intro}\n\n{HELP_EXAMPLES}"
            case Unknown(text=text, hint=hint):
                if hint:
                    return hint
                what = f"“{snippet(text)}”" if text else "that"
                return f"Sorry, I didn't understand {what}. {help_intro}\n\n{HELP_EXAMPLES}"
            case AddTask():
                return self._add(intent)
            case ListTasks():
                return self._list(intent)
            case Complete(ref=ref):
                return self._set_done(ref, done=True)
            case Reopen(ref=ref):
                return self._set_done(ref, done=False)
            case Delete(ref=ref) | Rename(ref=ref) | SetPriority(ref=ref) | SetDue(ref=ref):
                return self._update(ref, intent)
        raise AssertionError(f"unhandled intent {intent!r}")  # pragma: no cover

    def _add(self, intent: AddTask) -> str:
        result = self.call_tool(
            ADD_TASK,
            {
                "title": intent.title,
                "priority": intent.priority,
                "due_date": intent.due_date.isoformat() if intent.due_date else None,
                "tags": list(intent.tags),
            },
        )
        task = unwrap_task(result)
        details = task_details(task)
        suffix = f" ({', '.join(details)})" if details else ""
        cut = (
            f" The title was {intent.cut_from} characters: I kept the first {len(intent.title)}."
            if intent.cut_from
            else ""
        )
        return f"Added {task_name(task)}{suffix}.{cut}"

    def _list(self, intent: ListTasks) -> str:
        arguments: dict[str, Any] = {"status": intent.status}
        if intent.priority:
            arguments["priority"] = intent.priority
        if intent.tag:
            arguments["tag"] = intent.tag
        if intent.overdue:
            arguments["overdue"] = True
        if intent.search:
            arguments["search"] = intent.search
        if intent.due_before:
            arguments["due_before"] = intent.due_before.isoformat()
        if intent.overdue or intent.due_before:
            arguments["sort"] = "due"
        result = self.call_tool(LIST_TASKS, arguments)
        tasks = [task for task in result.get("tasks", []) if isinstance(task, dict)]
        label = list_label(intent)
        if not tasks:
            return f"No {label}."
        total = result.get("total", len(tasks))
        heading = f"All {label}" if intent.status == "all" and not intent.overdue else label[0].upper() + label[1:]
        lines = [f"{heading} ({total}):", *(list_line(task, self.today) for task in tasks)]
        if isinstance(total, int) and total > len(tasks):
            lines.append(f"_…and {total - len(tasks)} more._")
        return "\n".join(lines)

    def _find(self, words: str, primary: Status) -> tuple[list[dict[str, Any]], Status]:
        """Search ``primary`` tasks, then all tasks; return the matches and where they were found."""
        statuses: list[Status] = [primary] if primary == "all" else [primary, "all"]
        tasks: list[dict[str, Any]] = []
        for status in statuses:
            result = self.call_tool(LIST_TASKS, {"status": status, "search": words, "limit": SEARCH_LIMIT})
            tasks = [task for task in result.get("tasks", []) if isinstance(task, dict)]
            if tasks:
                return tasks, status
        return tasks, statuses[-1]

    def _resolve(
        self,
        ref: TaskRef,
        primary: Status,
        example: Callable[[int], str],
        already: Literal["done", "open"] | None = None,
    ) -> dict[str, Any] | str:
        """The task a word reference means, or a reply explaining why there is not exactly one.

        ``already`` names the state the action would produce ("done" for complete): when the only
        matches are outside ``primary`` and all in that state, the reply says so instead of asking.
        """
        words = ref.words or ""
        tasks, found_in = self._find(words, primary)
        if not tasks:
            return f"I found no {primary} task matching '{escape_markdown(words)}'."
        if already is not None and found_in != primary:
            if all(bool(task.get("completed")) == (already == "done") for task in tasks):
                if len(tasks) == 1:
                    return f"{capitalize(task_name(tasks[0]))} is already {already}."
                return f"Every task matching '{escape_markdown(words)}' is already {already}."
            tasks = [task for task in tasks if bool(task.get("completed")) != (already == "done")]
        if len(tasks) == 1:
            return tasks[0]
        exact = [task for task in tasks if str(task.get("title", "")).casefold() == words.casefold()]
        if len(exact) == 1:
            return exact[0]
        which = f"{primary} tasks" if found_in == primary else "tasks"
        shown = tasks[:MAX_CANDIDATES_SHOWN]
        lines = [f"Several {which} match '{escape_markdown(words)}':", *(list_line(task, self.today) for task in shown)]
        if len(tasks) > len(shown):
            lines.append(f"_…and {len(tasks) - len(shown)} more._")
        lines.append(
            f"Which one? Reply with its number, e.g. “{escape_markdown(example(int(shown[0].get('id', 0))))}”."
        )
        return "\n".join(lines)

    def _set_done(self, ref: TaskRef, done: bool) -> str:
        """Complete (``done``) or reopen one task."""
        verb = "complete" if done else "reopen"
        tool = COMPLETE_TASK if done else REOPEN_TASK
        task_id: int
        if ref.number is not None:
            task_id = ref.number
        else:
            primary: Status = "open" if done else "done"
            found = self._resolve(ref, primary, lambda n: f"{verb} {n}", "done" if done else "open")
            if isinstance(found, str):
                return found
            task_id = int(found["id"])
        task = unwrap_task(self.call_tool(tool, {"task_id": task_id}))
        return f"{'Completed' if done else 'Reopened'} {task_name(task)}."

    def _update(self, ref: TaskRef, intent: Delete | Rename | SetPriority | SetDue) -> str:
        """Delete, rename, re-prioritise or re-date one task."""
        task_id: int
        if ref.number is not None:
            task_id = ref.number
        else:
            found = self._resolve(ref, "open", lambda n: example_command(intent, n))
            if isinstance(found, str):
                return found
            task_id = int(found["id"])
        match intent:
            case Delete():
                task = unwrap_task(self.call_tool(DELETE_TASK, {"task_id": task_id}))
                return f"Deleted {task_name(task)}."
            case Rename(new_title=title):
                task = unwrap_task(self.call_tool(UPDATE_TASK, {"task_id": task_id, "title": title}))
                return (
                    f"Renamed task {task.get('id', task_id)} to **{escape_markdown(str(task.get('title', title)))}**."
                )
            case SetPriority(priority=priority):
                task = unwrap_task(self.call_tool(UPDATE_TASK, {"task_id": task_id, "priority": priority}))
                return f"{capitalize(task_name(task))} is now {task.get('priority', priority)} priority."
            case SetDue(due_date=None):
                task = unwrap_task(self.call_tool(UPDATE_TASK, {"task_id": task_id, "clear_due_date": True}))
                return f"Removed the due date from {task_name(task)}."
            case SetDue(due_date=due):
                assert due is not None
                arguments = {"task_id": task_id, "due_date": due.isoformat()}
                task = unwrap_task(self.call_tool(UPDATE_TASK, arguments))
                return f"{capitalize(task_name(task))} is now due {format_date(str(task.get('due_date', due)))}."
        raise AssertionError(f"unhandled intent {intent!r}")  # pragma: no cover


def run_offline(
    text: str,
    tools: ToolCaller,
    today: date,
    *,
    fallback_reason: str | None = None,
) -> OfflineReply:
    """Answer one chat message without a language model, calling MCP tools through ``tools``.

    ``fallback_reason`` (e.g. "timeout") says the model was configured but failed: the reply then
    starts with a notice and the help text does not claim that no model is configured. Tool errors
    (``ToolCallError``) become the reply text; any other exception propagates.
    """
    runner = _Runner(tools=tools, today=today)
    help_intro = HELP_INTRO if fallback_reason is None else FALLBACK_HELP_INTRO
    body = runner.run(parse(text, today), help_intro)
    if fallback_reason is not None:
        notice = FALLBACK_NOTICE.format(reason=snippet(" ".join(fallback_reason.split()), 200))
        body = f"_{notice}_\n\n{body}"
    return OfflineReply(text=body, steps=runner.steps)
