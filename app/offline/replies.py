"""The reply texts: help and fallback notices, and Markdown formatting of tasks, lists and example
commands."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Final

from app.offline.intents import Delete, ListTasks, Rename, SetDue, SetPriority
from app.offline.text import escape_markdown
from app.offline.vocabulary import WEEKDAY_NAMES
from contract.tools import LIST_TASKS

HELP_INTRO: Final = (
    "I'm the offline assistant (no language model is configured). I understand short commands like these:"
)
FALLBACK_HELP_INTRO: Final = "I understand short commands like these:"
HELP_EXAMPLES: Final = (
    "- **Add:** `add buy milk`, `add 'send Q3 report' for Friday, high priority`, "
    "`remind me to call mom tomorrow`, `add fix bug #work`\n"
    "- **List:** `list`, `show done`, `list all`, `what's overdue`, `what's due this week`, "
    "`show high priority tasks`, `show #work`\n"
    "- **Complete / reopen:** `complete 3`, `done with the report`, `reopen 3`\n"
    "- **Change:** `rename 3 to Call dad`, `make 3 high priority`, `move 3 to friday`, "
    "`remove the due date from 3`\n"
    "- **Delete:** `delete 3`, `remove buy milk`\n\n"
    "Name a task by its number or by words from its title. "
    "Dates: today, tomorrow, friday, next week, in 3 days, 2026-12-01."
)
HELP_TEXT: Final = f"{HELP_INTRO}\n\n{HELP_EXAMPLES}"
FALLBACK_NOTICE: Final = "The model is unavailable ({reason}), so the offline assistant handled this."


def format_date(value: str) -> str:
    """ "2026-11-27" -> "Fri 2026-11-27" (locale-independent); anything unparsable is returned as is."""
    try:
        return f"{WEEKDAY_NAMES[date.fromisoformat(value).weekday()]} {value}"
    except (TypeError, ValueError):
        return str(value)


def task_details(task: dict[str, Any], today: date | None = None) -> list[str]:
    parts: list[str] = []
    if task.get("priority") in ("high", "low"):
        parts.append(str(task["priority"]))
    if due := task.get("due_date"):
        text = f"due {format_date(str(due))}"
        if today is not None and not task.get("completed") and str(due) < today.isoformat():
            text += " (**overdue**)"
        parts.append(text)
    if tags := task.get("tags"):
        parts.append(" ".join(f"#{escape_markdown(str(tag))}" for tag in tags))
    return parts


def task_name(task: dict[str, Any]) -> str:
    """ "task 3: **title**" """
    return f"task {task.get('id', '?')}: **{escape_markdown(str(task.get('title', '')))}**"


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def list_line(task: dict[str, Any], today: date) -> str:
    check = "✓ " if task.get("completed") else ""
    details = task_details(task, today)
    suffix = f" — {', '.join(details)}" if details else ""
    return f"- **{task.get('id', '?')}.** {check}{escape_markdown(str(task.get('title', '')))}{suffix}"


def unwrap_task(result: dict[str, Any]) -> dict[str, Any]:
    inner = result.get("task")
    return inner if isinstance(inner, dict) else result


def list_label(intent: ListTasks) -> str:
    """ "open high-priority tasks tagged #work", "overdue tasks", "tasks" (for status all)."""
    words: list[str] = []
    if intent.overdue:
        words.append("overdue")
    elif intent.status != "all":
        words.append(intent.status)
    if intent.priority:
        words.append(f"{intent.priority}-priority")
    words.append("tasks")
    if intent.tag:
        words.append(f"tagged #{escape_markdown(intent.tag)}")
    if intent.search:
        words.append(f"matching '{escape_markdown(intent.search)}'")
    if intent.due_before:
        last_day = intent.due_before - timedelta(days=1)
        words.append(f"due by {format_date(last_day.isoformat())}")
    return " ".join(words)


def example_command(intent: Delete | Rename | SetPriority | SetDue, number: int) -> str:
    match intent:
        case Delete():
            return f"delete {number}"
        case Rename(new_title=title):
            return f"rename {number} to {title}"
        case SetPriority(priority=priority):
            return f"make {number} {priority} priority"
        case SetDue(due_date=None):
            return f"remove the due date from {number}"
        case SetDue(due_date=due):
            return f"move {number} to {due}"
    raise AssertionError(f"unhandled intent {intent!r}")  # pragma: no cover


# The tools word some errors for a model ("Call list_tasks ..."); a person reads what to say instead.
FOR_A_MODEL: Final = ((f"Call {LIST_TASKS} to see the task numbers.", "Say “what's open?” to see the task numbers."),)


def error_for_people(error: str) -> str:
    for for_model, for_people in FOR_A_MODEL:
        error = error.replace(for_model, for_people)
    return error
