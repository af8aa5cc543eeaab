"""Offline assistant: a deterministic stand-in for the language model.

When no model is configured (or the model call fails) the chat UI hands the user's message to
:func:`run_offline`. It parses the message with :func:`parse` (pure, no I/O) into a small *intent*
and carries it out through the same MCP tools the model would call (``add_task``, ``list_tasks``,
``complete_task``, ``reopen_task``, ``update_task``, ``delete_task``), then answers with a short
Markdown reply plus the list of tool calls it made.

Parsing rules worth knowing (all case-insensitive, tolerant of punctuation, quotes and "please"):

* A task is referred to by its number ("3", "task 3", "#3") or by words of its title ("the report").
  Words are resolved with ``list_tasks(search=...)``: open tasks first (done tasks for "reopen"),
  then all tasks. One match is acted on; several are listed and the user is asked which one, unless
  exactly one of them has exactly that title.
* Dates (the rules are :mod:`contract.dates`', which the tool server reads date arguments with too):
  "today"/"tonight", "tomorrow", "day after tomorrow", "in 3 days", "in 2 weeks",
  "next week" (the next Monday), "next month" (its first day), "end of week" (Sunday), "end of month"
  (its last day), "this weekend" (the coming Saturday, today on a weekend day), ISO "2026-12-01", "12/01"
  (month/day, US order), "Dec 1", "1st of December" (a date without a year is the next such date on or
  after today).
* Weekdays: a plain weekday ("friday", "by fri", "this friday") is the nearest such day **on or
  after today**, so "thursday" said on a Thursday means today. "next friday" is the Friday of next
  week (Monday-to-Sunday weeks), so on Thursday 2026-11-26 "friday" is 2026-11-27 and
  "next friday" is 2026-12-04. A bare weekday with no "by/on/for/due" in front only counts as the
  due date at the end of an "add" message ("add call mom friday"), so titles such as
  "read Friday newsletter" survive; abbreviations ("fri") and "12/01" need a preposition.
* Priority: "high priority", "priority high", "!high", and "urgent"/"important"/"asap" at the
  start or end of the message mean high; "low priority" / "not urgent" mean low.
* Tags: "#word" (starting with a letter) becomes a lowercase tag and leaves the title; so do "…, tag health",
  "…, tags home, bills" and "… tagged work and home" after the title.
* Lists: "list", "show done", "list all", "what's overdue", "show high priority tasks", "show #work",
  "find milk" (search), and due windows: "what's due today" / "this week" / "by friday" become the
  tool's exclusive ``due_before`` (today + 1, next Monday, Saturday).
* Titles are cut to 200 characters (the reply says so); a message that leaves no title is answered with a question
  instead of creating an empty task. Messages are cut to ``MAX_INPUT_CHARS`` before parsing and
  control characters are turned into spaces.

Where each part lives:

* :mod:`~app.offline.intents`: the intent dataclasses, the ``Intent`` union and ``TaskRef``.
* :mod:`~app.offline.vocabulary`: word lists and the regular expressions built from them.
* :mod:`~app.offline.text`: input limits, normalising, cleaning titles, escaping Markdown.
* :mod:`~app.offline.dates`: date phrases inside a message (``extract_date``, ``due_value``).
* :mod:`~app.offline.references`: task references ("3", "the report") to ``TaskRef``.
* :mod:`~app.offline.matchers`: the "add" and "list" matchers.
* :mod:`~app.offline.rules`: the rules for commands that name a task (complete, move, rename...).
* :mod:`~app.offline.parse`: :func:`parse`, which tries the matchers in turn.
* :mod:`~app.offline.replies`: help texts and Markdown formatting of replies.
* :mod:`~app.offline.runner`: :func:`run_offline`, which carries an intent out through the MCP tools.
"""

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
from app.offline.replies import FALLBACK_NOTICE, HELP_EXAMPLES, HELP_TEXT
from app.offline.runner import OfflineReply, ToolCallError, run_offline
from app.offline.text import MAX_INPUT_CHARS
from app.steps import ToolCaller, ToolStep
from contract.schemas import Priority, Status

__all__ = [
    "FALLBACK_NOTICE",
    "HELP_EXAMPLES",
    "HELP_TEXT",
    "MAX_INPUT_CHARS",
    "AddTask",
    "Complete",
    "Delete",
    "Help",
    "Intent",
    "ListTasks",
    "OfflineReply",
    "Priority",
    "Rename",
    "Reopen",
    "SetDue",
    "SetPriority",
    "Status",
    "TaskRef",
    "ToolCallError",
    "ToolCaller",
    "ToolStep",
    "Unknown",
    "parse",
    "run_offline",
]
