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
* Dates: "today"/"tonight", "tomorrow", "day after tomorrow", "in 3 days", "in 2 weeks",
  "next week" (the next Monday), "next month" (its first day), "this weekend" (the coming
  Saturday, today on a weekend day), ISO "2026-12-01", "12/01" (month/day, US order),
  "Dec 1", "1st of December" (a date without a year is the next such date on or after today).
* Weekdays: a plain weekday ("friday", "by fri", "this friday") is the nearest such day **on or
  after today**, so "thursday" said on a Thursday means today. "next friday" is the Friday of next
  week (Monday-to-Sunday weeks), so on Thursday 2026-11-26 "friday" is 2026-11-27 and
  "next friday" is 2026-12-04. A bare weekday with no "by/on/for/due" in front only counts as the
  due date at the end of an "add" message ("add call mom friday"), so titles such as
  "read Friday newsletter" survive; abbreviations ("fri") and "12/01" need a preposition.
* Priority: "high priority", "priority high", "!high", and "urgent"/"important"/"asap" at the
  start or end of the message mean high; "low priority" / "not urgent" mean low.
* Tags: "#word" (starting with a letter) becomes a lowercase tag and leaves the title.
* Lists: "list", "show done", "list all", "what's overdue", "show high priority tasks", "show #work",
  "find milk" (search), and due windows: "what's due today" / "this week" / "by friday" become the
  tool's exclusive ``due_before`` (today + 1, next Monday, Saturday).
* Titles are cut to 200 characters; a message that leaves no title is answered with a question
  instead of creating an empty task. Messages are cut to ``MAX_INPUT_CHARS`` before parsing and
  control characters are turned into spaces.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Final, Literal, TypeAlias

from app.client import ToolError
from app.steps import ToolCaller, ToolStep
from contract import limits
from contract.schemas import Priority, Status
from contract.tools import ADD_TASK, COMPLETE_TASK, DELETE_TASK, LIST_TASKS, REOPEN_TASK, UPDATE_TASK

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

MAX_INPUT_CHARS: Final = 2000
MAX_TITLE_CHARS: Final = limits.TITLE_LENGTH
MAX_TAGS: Final = limits.TAGS_PER_TASK
MAX_TAG_CHARS: Final = limits.TAG_LENGTH
SEARCH_LIMIT: Final = 20
MAX_CANDIDATES_SHOWN: Final = 10

# --------------------------------------------------------------------------------------------------
# Intents
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskRef:
    """Which task the user means: its per-user number, or words of its title (exactly one is set)."""

    number: int | None = None
    words: str | None = None

    def __post_init__(self) -> None:
        if (self.number is None) == (self.words is None):
            raise ValueError("TaskRef needs exactly one of number or words")


@dataclass(frozen=True, slots=True)
class AddTask:
    title: str
    priority: Priority = "medium"
    due_date: date | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ListTasks:
    """List tasks. ``due_before`` is exclusive, like the tool's: "due today" is ``due_before=tomorrow``."""

    status: Status = "open"
    priority: Priority | None = None
    tag: str | None = None
    overdue: bool = False
    search: str | None = None
    due_before: date | None = None


@dataclass(frozen=True, slots=True)
class Complete:
    ref: TaskRef


@dataclass(frozen=True, slots=True)
class Reopen:
    ref: TaskRef


@dataclass(frozen=True, slots=True)
class Delete:
    ref: TaskRef


@dataclass(frozen=True, slots=True)
class Rename:
    ref: TaskRef
    new_title: str


@dataclass(frozen=True, slots=True)
class SetPriority:
    ref: TaskRef
    priority: Priority


@dataclass(frozen=True, slots=True)
class SetDue:
    """Set the due date; ``due_date=None`` removes it."""

    ref: TaskRef
    due_date: date | None


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class Unknown:
    """Not understood. ``hint`` is set when the message was almost understood (e.g. no title)."""

    text: str
    hint: str | None = None


Intent: TypeAlias = AddTask | ListTasks | Complete | Reopen | Delete | Rename | SetPriority | SetDue | Help | Unknown

# --------------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------------

_WEEKDAYS: Final[dict[str, int]] = {
    "monday": 0, "mon": 0,
    "tuesday": 1, "tues": 1, "tue": 1,
    "wednesday": 2, "weds": 2, "wed": 2,
    "thursday": 3, "thurs": 3, "thur": 3, "thu": 3,
    "friday": 4, "fri": 4,
    "saturday": 5, "sat": 5,
    "sunday": 6, "sun": 6,
}  # fmt: skip
_FULL_WEEKDAYS: Final = frozenset(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
_WEEKDAY_NAMES: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS: Final[dict[str, int]] = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
    "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}  # fmt: skip
_NUMBER_WORDS: Final[dict[str, int]] = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
_PRIORITY_WORDS: Final[dict[str, Priority]] = {
    "high": "high", "highest": "high", "top": "high", "hi": "high", "urgent": "high",
    "important": "high", "critical": "high", "asap": "high",
    "low": "low", "lowest": "low", "lo": "low",
    "medium": "medium", "med": "medium", "normal": "medium",
}  # fmt: skip


def _alternation(words: Sequence[str]) -> str:
    """A regex alternation that prefers longer words ("friday" before "fri")."""
    return "|".join(sorted(words, key=len, reverse=True))


_WEEKDAY_RE: Final = _alternation(list(_WEEKDAYS))
_MONTH_RE: Final = _alternation(list(_MONTHS))
_COUNT_RE: Final = rf"(?:\d{{1,4}}|{_alternation(list(_NUMBER_WORDS))})"

# Date expressions, each also compiled on its own so a matched span can be interpreted.
_RELATIVE_DATE: Final = re.compile(
    r"(?P<today>today|tonight|this\s+evening)"
    r"|(?P<after>(?:the\s+)?day\s+after\s+tomorrow)"
    r"|(?P<tomorrow>tomorrow|tmrw|tmr)"
    r"|(?P<next_week>next\s+week)"
    r"|(?P<next_month>next\s+month)"
    r"|(?P<weekend>(?:this\s+)?weekend)"
    rf"|in\s+(?P<count>{_COUNT_RE})\s+(?P<unit>days?|weeks?)",
    re.IGNORECASE,
)
_WEEKDAY_DATE: Final = re.compile(
    rf"(?:(?P<which>this|next|coming|the\s+coming)\s+)?(?P<day>{_WEEKDAY_RE})", re.IGNORECASE
)
_ISO_DATE: Final = re.compile(r"(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})")
_US_DATE: Final = re.compile(r"(?P<m>\d{1,2})/(?P<d>\d{1,2})(?:/(?P<y>\d{4}|\d{2}))?")
_MONTH_DAY_DATE: Final = re.compile(
    rf"(?P<mon>{_MONTH_RE})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y>\d{{4}}))?", re.IGNORECASE
)
_DAY_MONTH_DATE: Final = re.compile(
    rf"(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?\s+(?P<mon>{_MONTH_RE})\.?(?:,?\s+(?P<y>\d{{4}}))?",
    re.IGNORECASE,
)
_DATE_PATTERNS: Final = (_ISO_DATE, _US_DATE, _MONTH_DAY_DATE, _DAY_MONTH_DATE, _RELATIVE_DATE, _WEEKDAY_DATE)
# All date forms in one expression, with the named groups made plain so it can be embedded anywhere.
_DATE_EXPR_PLAIN: Final = re.sub(r"\(\?P<\w+>", "(?:", "|".join(f"(?:{p.pattern})" for p in _DATE_PATTERNS))
_DATE_PREP: Final = (
    r"(?:due(?:\s+(?:on|by|date(?:\s+(?:of|is))?))?|by|on|for|before|until|till|deadline(?:\s+(?:is|of))?)"
)
_DATE_SPAN: Final = re.compile(
    rf"(?<![\w#/.'-])(?:(?P<prep>{_DATE_PREP})\s*:?\s+)?(?P<expr>{_DATE_EXPR_PLAIN})(?![\w/'-])",
    re.IGNORECASE,
)
_CLEAR_DUE_RE: Final = r"(?:none|nothing|never|someday|whenever|no\s+(?:due\s+)?date|no\s+deadline)"
_DUE_VALUE_RE: Final = rf"(?:(?:{_DATE_PREP})\s*:?\s+)?(?:{_DATE_EXPR_PLAIN})|{_CLEAR_DUE_RE}"

_PRIORITY_PHRASE_RE: Final = (
    r"(?:(?:a|an)\s+)?(?:"
    r"(?:high|highest|top|low|lowest|medium|med|normal)(?:[\s-]+(?:priority|prio))?"
    r"|urgent|important|critical|asap|not\s+(?:urgent|important)"
    r"|(?:priority|prio)\s+(?:high|low|medium|normal))"
)
_PRIORITY_INLINE: Final = re.compile(
    r"(?<![\w#!])(?:(?:with|at|as)\s+)?(?:(?:a|an)\s+)?"
    r"(?P<a>high|highest|top|low|lowest|medium|med|normal)[\s-]+(?:priority|prio)\b"
    r"|(?<![\w#])(?:priority|prio)\s*(?:[:=]|is|of)?\s*(?P<b>high|low|medium|normal)\b"
    r"|(?<![\w#])!(?P<c>high|hi|low|lo|medium|med|urgent)\b",
    re.IGNORECASE,
)
_PRIORITY_AT_START: Final = re.compile(r"^(?P<w>urgent|important|asap|critical)\b[\s:,;-]*", re.IGNORECASE)
_PRIORITY_AT_END: Final = re.compile(
    r"(?:^|[\s,;-])(?:(?P<not>not\s+(?:urgent|important))|(?P<w>urgent|important|asap|critical))[\s.!]*$",
    re.IGNORECASE,
)
_TAG: Final = re.compile(r"(?<![\w&#/])#(?P<tag>[^\W\d_](?:[\w-]*\w)?)")

# Words that may surround a task reference without being part of it ("done with the report").
_REF_LEADING_FILLER: Final = frozenset(
    (
        "the", "my", "a", "an", "with", "task", "tasks", "todo", "to-do", "item", "number", "no", "no.",
        "nr", "nr.", "that", "this", "these", "those", "it", "all", "everything", "one", "on", "about",
        "called", "named", "of", "for", "i", "i'm", "we", "off",
    )
)  # fmt: skip
_REF_TRAILING_FILLER: Final = frozenset(("task", "tasks", "todo", "item", "one", "please", "again", "now", "too", "it"))
_NUMBER_REF: Final = re.compile(r"#?\s*(?P<n>\d{1,9})")
_QUOTES: Final = "'\"`"

# --------------------------------------------------------------------------------------------------
# Normalisation and small helpers
# --------------------------------------------------------------------------------------------------

_QUOTE_TRANSLATION: Final = str.maketrans(
    {"‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "“": '"', "”": '"', "„": '"', "‟": '"', "«": '"', "»": '"'}
)
_LEADING_POLITENESS: Final = re.compile(
    r"^(?:please|pls|plz|kindly|ok|okay|so|now|hey|hi|hello|"
    r"(?:can|could|would|will)\s+(?:you|u)(?:\s+please)?|i\s+want\s+to|i'd\s+like\s+to|i\s+would\s+like\s+to|"
    r"let's|lets)\b[\s,:]*",
    re.IGNORECASE,
)
_TRAILING_POLITENESS: Final = re.compile(r"(?:^|\s)(?:please|pls|plz|thanks|thank\s+you|thx)$", re.IGNORECASE)
_HELP: Final = re.compile(
    r"\?+|/?help(?:\s+me)?|h|commands|usage|menu|/?start|hi|hello|hey|what\s+are\s+you|"
    r"what\s+can\s+(?:you|i)\s+(?:do|say|ask)(?:\s+here)?|how\s+does\s+(?:this|it)\s+work|"
    r"how\s+do\s+i\s+use\s+(?:this|it|you)|what\s+do\s+you\s+(?:do|understand)",
    re.IGNORECASE,
)


def _normalize(text: str) -> str:
    """Cut to MAX_INPUT_CHARS, straighten quotes, turn control characters into spaces, squeeze spaces."""
    text = text[:MAX_INPUT_CHARS].translate(_QUOTE_TRANSLATION)
    cleaned = "".join(" " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in text)
    return " ".join(cleaned.split())


def _strip_trailing(text: str) -> str:
    """Drop trailing punctuation and a trailing "please"/"thanks", repeatedly."""
    while True:
        stripped = _TRAILING_POLITENESS.sub("", text.rstrip(" ,;:.!?")).rstrip()
        if stripped == text:
            return text
        text = stripped


def _strip_politeness(text: str) -> str:
    while True:
        stripped = _strip_trailing(_LEADING_POLITENESS.sub("", text, count=1))
        if stripped == text:
            return text
        text = stripped


def _unquote(text: str) -> str:
    text = text.strip()
    while len(text) >= 2 and text[0] in _QUOTES and text[-1] == text[0]:
        text = text[1:-1].strip()
    return text


def _clean_title(raw: str) -> str:
    """The title left after removing commands and modifiers: tidy spacing, quotes and punctuation."""
    text = re.sub(r"\s+([,;:.!?])", r"\1", " ".join(raw.split()))
    while True:
        cleaned = _strip_trailing(text.strip(" ,;:-–—"))
        cleaned = re.sub(r"(?:^|\s)(?:and|with)$", "", cleaned, flags=re.IGNORECASE)
        cleaned = re.sub(
            r"\s+(?:to|on|in)\s+(?:my|the)\s+(?:(?:todo|to-do|task)\s+)?(?:list|tasks|todos)$",
            "",
            cleaned,
            flags=re.IGNORECASE,
        )
        cleaned = _unquote(cleaned)
        if cleaned == text:
            break
        text = cleaned
    return _limit(text)


def _limit(text: str) -> str:
    """Cut to MAX_TITLE_CHARS without leaving trailing spaces."""
    return text[:MAX_TITLE_CHARS].rstrip()


def _remove_span(text: str, match: re.Match[str]) -> str:
    return f"{text[: match.start()]} {text[match.end() :]}"


def _priority_from_phrase(phrase: str) -> Priority | None:
    """Map a phrase such as "high priority", "urgent" or "not urgent" to a priority."""
    words = phrase.lower().replace("-", " ").split()
    if not words:
        return None
    if words[0] == "not":
        return "low"
    for word in words:
        if word in _PRIORITY_WORDS:
            return _PRIORITY_WORDS[word]
    return None


# --------------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------------


def _upcoming(today: date, weekday: int) -> date:
    """The nearest day with this weekday on or after today."""
    return today + timedelta(days=(weekday - today.weekday()) % 7)


def _next_monday(today: date) -> date:
    return today + timedelta(days=7 - today.weekday())


def _month_day(today: date, month: int, day: int, year: str | None) -> date:
    if year is not None:
        return date(int(year) + (2000 if len(year) == 2 else 0), month, day)
    candidate = date(today.year, month, day)
    return candidate if candidate >= today else date(today.year + 1, month, day)


def _relative_date(match: re.Match[str], today: date) -> date:
    if match["today"]:
        return today
    if match["after"]:
        return today + timedelta(days=2)
    if match["tomorrow"]:
        return today + timedelta(days=1)
    if match["next_week"]:
        return _next_monday(today)
    if match["next_month"]:
        return date(today.year + 1, 1, 1) if today.month == 12 else date(today.year, today.month + 1, 1)
    if match["weekend"]:
        return today if today.weekday() >= 5 else _upcoming(today, 5)
    count_word = match["count"].lower()
    count = _NUMBER_WORDS[count_word] if count_word in _NUMBER_WORDS else int(count_word)
    days = count * 7 if match["unit"].lower().startswith("week") else count
    return today + timedelta(days=days)


def _parse_date(expr: str, today: date) -> date | None:
    """Interpret one date expression ("friday", "in 3 days", "2026-12-01"...); None if invalid."""
    expr = " ".join(expr.split())
    try:
        if m := _ISO_DATE.fullmatch(expr):
            return date(int(m["y"]), int(m["m"]), int(m["d"]))
        if m := _US_DATE.fullmatch(expr):
            return _month_day(today, int(m["m"]), int(m["d"]), m["y"])
        if m := _MONTH_DAY_DATE.fullmatch(expr) or _DAY_MONTH_DATE.fullmatch(expr):
            return _month_day(today, _MONTHS[m["mon"].lower()], int(m["d"]), m["y"])
        if m := _RELATIVE_DATE.fullmatch(expr):
            return _relative_date(m, today)
        if m := _WEEKDAY_DATE.fullmatch(expr):
            weekday = _WEEKDAYS[m["day"].lower()]
            if (m["which"] or "").lower() == "next":
                return _next_monday(today) + timedelta(days=weekday)
            return _upcoming(today, weekday)
    except (ValueError, OverflowError):
        return None
    return None


def _due_value(text: str, today: date) -> date | Literal["clear"] | None:
    """A due date, "clear" for "no due date"/"none", or None when the text is not a date."""
    text = _unquote(text)
    if re.fullmatch(_CLEAR_DUE_RE, text, re.IGNORECASE):
        return "clear"
    text = re.sub(rf"^{_DATE_PREP}\s*:?\s+", "", text, flags=re.IGNORECASE)
    return _parse_date(text, today)


def _bare_date_allowed(expr: str, rest_after: str) -> bool:
    """May this date expression count without a preposition ("by", "on", "due"...) in front?"""
    words = expr.lower().split()
    if len(words) == 1 and words[0] in _WEEKDAYS:
        return words[0] in _FULL_WEEKDAYS and not rest_after.strip(" ,;:.!?")
    if words == ["weekend"]:
        return False
    return not _US_DATE.fullmatch(expr)


def _extract_date(text: str, today: date) -> tuple[date | None, str]:
    """Find the last date phrase in an "add" message; return it and the text without it."""
    chosen: tuple[re.Match[str], date] | None = None
    for match in _DATE_SPAN.finditer(text):
        expr = match["expr"]
        if match["prep"] is None and not _bare_date_allowed(expr, text[match.end() :]):
            continue
        value = _parse_date(expr, today)
        if value is not None:
            chosen = (match, value)
    if chosen is None:
        return None, text
    return chosen[1], _remove_span(text, chosen[0])


def _extract_priority(text: str) -> tuple[Priority | None, str]:
    """Find a priority phrase in an "add" message; return it and the text without it."""
    matches = list(_PRIORITY_INLINE.finditer(text))
    if matches:
        last = matches[-1]
        return _priority_from_phrase(last["a"] or last["b"] or last["c"]), _remove_span(text, last)
    stripped = text.strip()
    if m := _PRIORITY_AT_START.match(stripped):
        return _priority_from_phrase(m["w"]), stripped[m.end() :]
    if m := _PRIORITY_AT_END.search(stripped):
        return _priority_from_phrase(m["not"] or m["w"]), stripped[: m.start()]
    return None, text


def _extract_tags(text: str) -> tuple[tuple[str, ...], str]:
    tags: list[str] = []
    for match in _TAG.finditer(text):
        tag = match["tag"].lower()[:MAX_TAG_CHARS]
        if tag not in tags and len(tags) < MAX_TAGS:
            tags.append(tag)
    return tuple(tags), _TAG.sub(" ", text)


# --------------------------------------------------------------------------------------------------
# Task references
# --------------------------------------------------------------------------------------------------


def _ref(raw: str) -> TaskRef | None:
    """Parse "3", "task #3", "the report", "'buy milk'" into a TaskRef; None when nothing is left."""
    text = raw.strip().strip(",;:.!?")
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] == text[0]:
        words = _unquote(text)
        return TaskRef(words=_limit(words)) if words else None
    tokens = text.split()
    while tokens and tokens[0].lower() in _REF_LEADING_FILLER:
        tokens.pop(0)
    while tokens and tokens[-1].lower() in _REF_TRAILING_FILLER:
        tokens.pop()
    phrase = " ".join(tokens)
    if m := _NUMBER_REF.fullmatch(phrase):
        return TaskRef(number=int(m["n"]))
    phrase = _unquote(phrase)
    return TaskRef(words=_limit(phrase)) if phrase else None


def _which_task_hint(example: str) -> str:
    return f"Which task do you mean? Give its number or words from its title, e.g. “{example}”."


_NO_TITLE_HINT: Final = "What should the task be called? For example: “add buy milk tomorrow”."
_NO_NEW_TITLE_HINT: Final = "What should the new title be? For example: “rename 3 to Call dad”."
_DATE_HINT: Final = (
    "I couldn't read the date “{value}”. Try today, tomorrow, friday, next week, in 3 days or 2026-12-01."
)

# --------------------------------------------------------------------------------------------------
# Matchers: each takes the cleaned message and returns an intent, or None to let the next one try.
# --------------------------------------------------------------------------------------------------

Matcher: TypeAlias = Callable[[str, date], Intent | None]
_REF_RE: Final = r"(?P<ref>'[^']+'|\"[^\"]+\"|.+?)"
_SEP: Final = r"(?:\s*:\s*|\s+)"  # between a verb and what follows: "done 3", "done: 3"


def _full(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_ADD_PREFIX: Final = _full(
    r"^(?:"
    r"(?:add|put)\s+(?:this\s+)?(?:to|on)\s+(?:my|the)\s+(?:(?:todo|to-do|task)\s+)?list\b\s*:?"
    r"|(?:add|create)\b\s*:?\s*(?:(?:a|an|new|another)\s+)?"
    r"(?:(?:task|todo|to-do|item|reminder)s?\b\s*(?::|-|\bto\b|\bcalled\b|\bnamed\b)?)?"
    r"|new\s+(?:task|todo|to-do|item|reminder)s?\b\s*:?"
    r"|new\s*:"
    r"|(?:todo|to-do|to\s+do|task|reminder)\s*:"
    r"|remind\s+me\s+(?:to\b|that\b|about\b)?"
    r"|(?:i\s+)?(?:need|have)\s+to\b"
    r"|don'?t\s+(?:let\s+me\s+)?forget\s+(?:to\b|about\b)?"
    r")\s*"
)
_QUOTED_AT_START: Final = re.compile(r"^([\"'`])(?P<inner>(?:(?!\1).)+)\1(?=$|[\s,.;:!?)])")


def _match_add(text: str, today: date) -> Intent | None:
    prefix = _ADD_PREFIX.match(text)
    if prefix is None:
        return None
    body = text[prefix.end() :]
    quoted = _QUOTED_AT_START.match(body)
    rest = body[quoted.end() :] if quoted else body
    tags, rest = _extract_tags(rest)
    priority, rest = _extract_priority(rest)
    due_date, rest = _extract_date(rest, today)
    if priority is None:
        priority, rest = _extract_priority(rest)
    title = _clean_title(quoted["inner"] if quoted else rest)
    if prefix[0].lower().startswith("remind") and title.lower().startswith("to "):
        title = title[3:].lstrip()  # "remind me tomorrow to call mom"
    if not title:
        return Unknown(text, hint=_NO_TITLE_HINT)
    return AddTask(title=title, priority=priority or "medium", due_date=due_date, tags=tags)


_LIST_VERBS: Final = frozenset(("list", "ls", "show", "display", "view", "find", "search"))
_QUESTION_WORDS: Final = frozenset(("what", "what's", "whats", "which"))
_DONE_WORDS: Final = frozenset(
    ("done", "completed", "complete", "finished", "finish", "closed", "checked", "did", "resolved")
)
_OPEN_WORDS: Final = frozenset(
    ("open", "pending", "remaining", "left", "outstanding", "incomplete", "unfinished", "active", "current")
)
_ALL_WORDS: Final = frozenset(("all", "everything", "every"))
_OVERDUE_WORDS: Final = frozenset(("overdue", "late", "past-due", "pastdue"))
_TAG_WORDS: Final = frozenset(("tagged", "tag", "labeled", "labelled", "label"))
_LIST_NOUNS: Final = frozenset(("tasks", "task", "todos", "todo", "to-do", "to-dos", "items", "list"))
_LIST_FILLER: Final = frozenset(
    (
        "my", "me", "the", "a", "an", "is", "are", "what", "what's", "whats", "which", "do", "does", "i",
        "i'm", "have", "has", "to", "of", "that", "with", "please", "currently", "now", "on", "there",
        "anything", "any", "stuff", "things", "thing", "for", "still", "yet", "got", "need", "you", "can",
        "could", "in", "right", "so", "far", "again", "here", "priority", "prio", "about", "matching",
        "containing", "called", "named", "due",
    )
)  # fmt: skip


_LIST_DUE_WINDOW: Final = re.compile(
    rf"(?<![\w#/.'-])(?:due\s+)?(?:(?P<op>by|before|until|till|on|for)\s+)?"
    rf"(?P<expr>(?:this|the)\s+week|{_DATE_EXPR_PLAIN})(?![\w/'-])",
    re.IGNORECASE,
)


def _due_window(text: str, today: date) -> tuple[date | None, str]:
    """Find "due today", "this week", "by friday"... in a list request: (exclusive bound, rest of text)."""
    for match in _LIST_DUE_WINDOW.finditer(text):
        expr = " ".join(match["expr"].lower().split())
        if expr in ("this week", "the week"):
            return _next_monday(today), _remove_span(text, match)
        day = _parse_date(expr, today)
        if day is None:
            continue
        if expr == "next week":
            return day + timedelta(days=7), _remove_span(text, match)
        try:
            bound = day if (match["op"] or "").lower() == "before" else day + timedelta(days=1)
        except OverflowError:
            continue
        return bound, _remove_span(text, match)
    return None, text


def _match_list(text: str, today: date) -> Intent | None:
    due_before, text = _due_window(text, today)
    tokens = re.findall(r"#?[^\W_][\w'-]*", text.lower())
    if not tokens and due_before is None:
        return None
    explicit = bool(tokens) and tokens[0] in _LIST_VERBS
    question = bool(tokens) and tokens[0] in _QUESTION_WORDS
    status: Status | None = None
    everything = overdue = noun = False
    priority: Priority | None = None
    tag: str | None = None
    search: list[str] = []
    index = 1 if explicit or question else 0
    while index < len(tokens):
        token = tokens[index]
        if token.startswith("#"):
            tag = token[1:][:MAX_TAG_CHARS]
        elif token in _TAG_WORDS and index + 1 < len(tokens):
            index += 1
            tag = tokens[index].lstrip("#")[:MAX_TAG_CHARS]
        elif token in _DONE_WORDS:
            status = "done"
        elif token in _OPEN_WORDS:
            status = "open"
        elif token in _ALL_WORDS:
            everything = True
        elif token in _OVERDUE_WORDS:
            overdue = True
        elif token in _PRIORITY_WORDS:
            priority = _PRIORITY_WORDS[token]
        elif token in _LIST_NOUNS:
            noun = True
        elif token not in _LIST_FILLER:
            search.append(token)
        index += 1
    if search and not explicit:
        return None
    if not (explicit or question or noun or overdue or (due_before is not None and not tokens)):
        return None
    if overdue:
        status = "open"
    elif status is None:
        status = "all" if everything else "open"
    return ListTasks(
        status=status,
        priority=priority,
        tag=tag or None,
        overdue=overdue,
        search=_limit(" ".join(search)) or None,
        due_before=due_before,
    )


RefBuilder: TypeAlias = Callable[[TaskRef, re.Match[str], date], Intent | None]


@dataclass(frozen=True, slots=True)
class _Rule:
    """A full-match pattern with a ``ref`` group and a builder for the intent.

    ``hint`` (an example command) is given when the verb is unmistakable: a message that matches but
    names no task then gets a "which task?" question instead of falling through.
    """

    pattern: re.Pattern[str]
    build: RefBuilder
    hint: str | None = None
    numbers_only: bool = False


def _rule(pattern: str, build: RefBuilder, hint: str | None = None, *, numbers_only: bool = False) -> _Rule:
    return _Rule(_full(pattern), build, hint, numbers_only)


def _due_builder(ref: TaskRef, m: re.Match[str], today: date) -> Intent | None:
    if "value" not in m.groupdict():
        return SetDue(ref, None)
    value = _due_value(m["value"], today)
    if value is None:
        return Unknown(m.string, hint=_DATE_HINT.format(value=_snippet(m["value"], 40)))
    return SetDue(ref, None if value == "clear" else value)


def _due_builder_quiet(ref: TaskRef, m: re.Match[str], today: date) -> Intent | None:
    intent = _due_builder(ref, m, today)
    return None if isinstance(intent, Unknown) else intent


def _priority_builder(ref: TaskRef, m: re.Match[str], today: date) -> Intent | None:
    priority = _priority_from_phrase(m["p"])
    return SetPriority(ref, priority) if priority else None


def _rename_builder(ref: TaskRef, m: re.Match[str], today: date) -> Intent | None:
    title = _clean_title(m["title"])
    if not title:
        return Unknown(m.string, hint=_NO_NEW_TITLE_HINT)
    return Rename(ref, title)


def _change_builder(ref: TaskRef, m: re.Match[str], today: date) -> Intent | None:
    """ "change 3 to X": X may be a priority, a due date or a new title."""
    value = m["value"]
    if re.fullmatch(_PRIORITY_PHRASE_RE, value, re.IGNORECASE):
        priority = _priority_from_phrase(value)
        if priority:
            return SetPriority(ref, priority)
    due = _due_value(value, today)
    if due is not None:
        return SetDue(ref, None if due == "clear" else due)
    if re.fullmatch(_NOT_DONE, value, re.IGNORECASE):
        return Reopen(ref)
    if re.fullmatch(_DONE, value, re.IGNORECASE):
        return Complete(ref)
    title = _clean_title(value)
    return Rename(ref, title) if title else Unknown(m.string, hint=_NO_NEW_TITLE_HINT)


def _simple(kind: Callable[[TaskRef], Intent]) -> RefBuilder:
    def build(ref: TaskRef, m: re.Match[str], today: date) -> Intent | None:
        return kind(ref)

    return build


def _fixed_priority(priority: Priority) -> RefBuilder:
    def build(ref: TaskRef, m: re.Match[str], today: date) -> Intent | None:
        return SetPriority(ref, priority)

    return build


_PARTIAL_EDIT: Final = re.compile(
    r"(?:the\s+)?(?:tags?|labels?|#\S+|priority|description|title|name)\b.*\bfrom\b", re.IGNORECASE
)


def _delete_builder(ref: TaskRef, m: re.Match[str], today: date) -> Intent | None:
    """Delete a whole task; refuse "remove tag x from 3", which would otherwise delete by words."""
    if ref.words and _PARTIAL_EDIT.match(ref.words):
        return Unknown(m.string, hint="Offline I can only delete whole tasks, e.g. “delete 3”.")
    return Delete(ref)


_DUE_WORD: Final = r"(?:due\s*date|deadline|due)"
_MOVE_VERB: Final = r"(?:move|reschedule|postpone|push|defer|delay|shift|snooze)"
_DATE_TO: Final = r"(?:to|until|till|til|for|on|by)"
_PRIO: Final = rf"(?P<p>{_PRIORITY_PHRASE_RE})"
_NOT_DONE: Final = r"(?:not\s+(?:done|complete|completed|finished)|undone|incomplete|unfinished|open|pending|to\s*-?do)"
_DONE: Final = r"(?:done|complete|completed|finished|closed|resolved|checked)"
_COMPLETE_VERB: Final = (
    r"(?:complete|completed|finish|finished|done|close|closed|check\s+off|check|tick\s+off|tick|"
    r"cross\s+off|cross\s+out|strike|resolve|resolved)"
)
_DELETE_VERB: Final = (
    r"(?:delete|remove|del|drop|erase|trash|discard|cancel|scrap|rm|forget(?:\s+about)?|get\s+rid\s+of)"
)

_RULES: Final[tuple[_Rule, ...]] = (
    # --- due dates -------------------------------------------------------------------------------
    _rule(
        rf"(?:remove|clear|delete|drop|unset|reset)\s+(?:the\s+)?{_DUE_WORD}\s+(?:from|of|on|for)\s+{_REF_RE}",
        _due_builder,
        "remove the due date from 3",
    ),
    _rule(
        rf"(?:remove|clear|unset|reset)\s+{_REF_RE}(?:'s)?\s+(?:due\s*date|deadline)",
        _due_builder,
        "clear 3's due date",
    ),
    _rule(rf"{_REF_RE}\s+(?:has|have|gets?|needs?)\s+no\s+{_DUE_WORD}", _due_builder),
    _rule(rf"no\s+(?:due\s*date|deadline)\s+(?:for|on)\s+{_REF_RE}", _due_builder, "no due date for 3"),
    _rule(
        rf"{_MOVE_VERB}\s+{_REF_RE}(?:\s+{_DATE_TO})?\s+(?P<value>{_DUE_VALUE_RE})", _due_builder, "move 3 to friday"
    ),
    _rule(rf"{_MOVE_VERB}\s+{_REF_RE}\s+{_DATE_TO}\s+(?P<value>.+)", _due_builder, "move 3 to friday"),
    _rule(
        rf"(?:set|change|update|make|put)\s+(?:the\s+)?(?:{_DUE_WORD}|date)\s+(?:of|for|on)\s+{_REF_RE}"
        rf"\s+(?:to|as|=|at)\s*:?\s+(?P<value>.+)",
        _due_builder,
        "set the due date of 3 to friday",
    ),
    _rule(
        rf"(?:set|change|update)\s+{_REF_RE}(?:'s)?\s+{_DUE_WORD}(?:\s+(?:to|as|=))?\s*:?\s+(?P<value>.+)",
        _due_builder,
        "set 3's due date to friday",
    ),
    _rule(rf"(?:set\s+)?{_REF_RE}\s+(?:is\s+)?{_DUE_WORD}\s*:?\s+(?P<value>{_DUE_VALUE_RE})", _due_builder_quiet),
    # --- priority --------------------------------------------------------------------------------
    _rule(
        rf"(?:set|change|update|make|put)\s+(?:the\s+)?(?:priority|prio)\s+(?:of|for|on)\s+{_REF_RE}"
        rf"\s+(?:to|as|=|at)\s+{_PRIO}",
        _priority_builder,
        "set the priority of 3 to high",
    ),
    _rule(
        rf"(?:set|change|update)\s+{_REF_RE}(?:'s)?\s+(?:priority|prio)(?:\s+(?:to|as|=))?\s+{_PRIO}",
        _priority_builder,
    ),
    _rule(rf"(?:make|mark|set|flag|change|update|move)\s+{_REF_RE}\s+(?:(?:as|to)\s+)?{_PRIO}", _priority_builder),
    _rule(
        rf"(?:priority|prio)\s+(?:of\s+)?{_REF_RE}(?:\s+(?:to|=|is|:))?\s+(?P<p>high|low|medium|normal|urgent)",
        _priority_builder,
    ),
    _rule(rf"{_REF_RE}\s+(?:is|=|should\s+be)\s+{_PRIO}", _priority_builder),
    _rule(
        rf"{_REF_RE}\s+(?P<p>(?:high|low|medium|normal)[\s-]+(?:priority|prio))",
        _priority_builder,
        numbers_only=True,
    ),
    _rule(rf"(?:prioriti[sz]e)\s+{_REF_RE}", _fixed_priority("high"), "prioritize 3"),
    _rule(rf"(?:de-?prioriti[sz]e)\s+{_REF_RE}", _fixed_priority("low"), "deprioritize 3"),
    # --- rename ----------------------------------------------------------------------------------
    _rule(
        rf"(?:rename|retitle|relabel)\s+{_REF_RE}\s+(?:to|as|into){_SEP}(?P<title>.+)",
        _rename_builder,
        "rename 3 to Call dad",
    ),
    _rule(
        rf"(?:change|set|update|edit)\s+(?:the\s+)?(?:title|name|text)\s+(?:of|for|on)\s+{_REF_RE}"
        rf"\s+(?:to|as|=){_SEP}(?P<title>.+)",
        _rename_builder,
        "change the title of 3 to Call dad",
    ),
    _rule(
        rf"(?:change|set|update|edit)\s+{_REF_RE}(?:'s)?\s+(?:title|name|text)\s+(?:to|as|=){_SEP}(?P<title>.+)",
        _rename_builder,
        "change 3's title to Call dad",
    ),
    _rule(rf"(?:change|update|edit|set)\s+{_REF_RE}\s+(?:to|into){_SEP}(?P<value>.+)", _change_builder),
    # --- reopen ----------------------------------------------------------------------------------
    _rule(
        rf"(?:reopen|re-open|undo|uncheck|unmark|uncomplete|un-complete|unfinish|restore|revive){_SEP}{_REF_RE}",
        _simple(Reopen),
        "reopen 3",
    ),
    _rule(rf"(?:mark|set|flag)\s+{_REF_RE}\s+(?:as\s+)?{_NOT_DONE}", _simple(Reopen), "mark 3 as not done"),
    _rule(rf"{_REF_RE}\s+(?:is\s+)?(?:not\s+(?:done|complete|completed|finished)|undone)(?:\s+yet)?", _simple(Reopen)),
    _rule(rf"open\s+{_REF_RE}\s+again", _simple(Reopen), "reopen 3"),
    # --- complete --------------------------------------------------------------------------------
    _rule(rf"{_COMPLETE_VERB}{_SEP}{_REF_RE}", _simple(Complete), "complete 3"),
    _rule(rf"(?:mark|set|flag)\s+{_REF_RE}\s+(?:as\s+)?{_DONE}", _simple(Complete), "mark 3 as done"),
    _rule(rf"{_REF_RE}\s+(?:(?:is|was)\s+|=\s*)?{_DONE}(?:\s+now)?", _simple(Complete)),
    _rule(
        rf"i(?:'ve|\s+have|'m|\s+am)?\s+(?:just\s+|already\s+|finally\s+)?(?:finished|completed|done|did|closed)"
        rf"(?:\s+with)?\s+{_REF_RE}",
        _simple(Complete),
        "I finished task 3",
    ),
    # --- delete ----------------------------------------------------------------------------------
    _rule(rf"{_DELETE_VERB}{_SEP}{_REF_RE}", _delete_builder, "delete 3"),
)

_BARE_VERB_HINTS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (_full(r"(?:rename|retitle)(?:\s+.*)?"), _NO_NEW_TITLE_HINT),
    (_full(r"(?:reopen|re-open|undo|uncheck)"), _which_task_hint("reopen 3")),
    (_full(rf"{_COMPLETE_VERB}|mark(?:\s+as)?\s+{_DONE}"), _which_task_hint("complete 3")),
    (_full(_DELETE_VERB), _which_task_hint("delete 3")),
    (_full(rf"{_MOVE_VERB}(?:\s+.*)?"), _which_task_hint("move 3 to friday")),
)


def _match_rules(text: str, today: date) -> Intent | None:
    for rule in _RULES:
        m = rule.pattern.fullmatch(text)
        if m is None:
            continue
        ref = _ref(m["ref"])
        if ref is None or (rule.numbers_only and ref.number is None):
            if rule.hint is not None:
                return Unknown(text, hint=_which_task_hint(rule.hint))
            continue
        intent = rule.build(ref, m, today)
        if intent is not None:
            return intent
    for pattern, hint in _BARE_VERB_HINTS:
        if pattern.fullmatch(text):
            return Unknown(text, hint=hint)
    return None


_MATCHERS: Final[tuple[Matcher, ...]] = (_match_add, _match_list, _match_rules)


def parse(text: str, today: date) -> Intent:
    """Understand one chat message. Pure: no I/O; ``today`` anchors relative dates."""
    original = _normalize(text)
    if not original:
        return Unknown("")
    if _HELP.fullmatch(original.rstrip(" .!")):
        return Help()
    cleaned = _strip_politeness(original)
    if not cleaned:
        return Unknown(original)
    if _HELP.fullmatch(cleaned):
        return Help()
    for matcher in _MATCHERS:
        intent = matcher(cleaned, today)
        if intent is not None:
            return dataclasses.replace(intent, text=original) if isinstance(intent, Unknown) else intent
    return Unknown(original)


# --------------------------------------------------------------------------------------------------
# Running an intent through the MCP tools
# --------------------------------------------------------------------------------------------------


# A tool call failed; the message is fit to show the user. The same class the MCP client raises.
ToolCallError = ToolError


@dataclass
class OfflineReply:
    text: str
    steps: list[ToolStep] = field(default_factory=list)


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

_MARKDOWN_SPECIAL: Final = re.compile(r"([\\`*_\[\]<>~|$])")


def _md(text: str) -> str:
    """Escape text so Markdown (and Streamlit's $math$) shows it literally."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _snippet(text: str, limit: int = 60) -> str:
    return _md(text if len(text) <= limit else text[: limit - 1].rstrip() + "…")


def _format_date(value: str) -> str:
    """ "2026-11-27" -> "Fri 2026-11-27" (locale-independent); anything unparsable is returned as is."""
    try:
        return f"{_WEEKDAY_NAMES[date.fromisoformat(value).weekday()]} {value}"
    except (TypeError, ValueError):
        return str(value)


def _details(task: dict[str, Any], today: date | None = None) -> list[str]:
    parts: list[str] = []
    if task.get("priority") in ("high", "low"):
        parts.append(str(task["priority"]))
    if due := task.get("due_date"):
        text = f"due {_format_date(str(due))}"
        if today is not None and not task.get("completed") and str(due) < today.isoformat():
            text += " (**overdue**)"
        parts.append(text)
    if tags := task.get("tags"):
        parts.append(" ".join(f"#{_md(str(tag))}" for tag in tags))
    return parts


def _name(task: dict[str, Any]) -> str:
    """ "task 3: **title**" """
    return f"task {task.get('id', '?')}: **{_md(str(task.get('title', '')))}**"


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def _list_line(task: dict[str, Any], today: date) -> str:
    check = "✓ " if task.get("completed") else ""
    details = _details(task, today)
    suffix = f" — {', '.join(details)}" if details else ""
    return f"- **{task.get('id', '?')}.** {check}{_md(str(task.get('title', '')))}{suffix}"


def _unwrap_task(result: dict[str, Any]) -> dict[str, Any]:
    inner = result.get("task")
    return inner if isinstance(inner, dict) else result


def _list_label(intent: ListTasks) -> str:
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
        words.append(f"tagged #{_md(intent.tag)}")
    if intent.search:
        words.append(f"matching '{_md(intent.search)}'")
    if intent.due_before:
        last_day = intent.due_before - timedelta(days=1)
        words.append(f"due by {_format_date(last_day.isoformat())}")
    return " ".join(words)


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
            return _md(str(exc) or "The tool call failed.")

    def _dispatch(self, intent: Intent, help_intro: str) -> str:
        match intent:
            case Help():
                return f"{help_intro}\n\n{HELP_EXAMPLES}"
            case Unknown(text=text, hint=hint):
                if hint:
                    return hint
                what = f"“{_snippet(text)}”" if text else "that"
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
        task = _unwrap_task(result)
        details = _details(task)
        suffix = f" ({', '.join(details)})" if details else ""
        return f"Added {_name(task)}{suffix}."

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
        label = _list_label(intent)
        if not tasks:
            return f"No {label}."
        total = result.get("total", len(tasks))
        heading = f"All {label}" if intent.status == "all" and not intent.overdue else label[0].upper() + label[1:]
        lines = [f"{heading} ({total}):", *(_list_line(task, self.today) for task in tasks)]
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
            return f"I found no {primary} task matching '{_md(words)}'."
        if already is not None and found_in != primary:
            if all(bool(task.get("completed")) == (already == "done") for task in tasks):
                if len(tasks) == 1:
                    return f"{_capitalize(_name(tasks[0]))} is already {already}."
                return f"Every task matching '{_md(words)}' is already {already}."
            tasks = [task for task in tasks if bool(task.get("completed")) != (already == "done")]
        if len(tasks) == 1:
            return tasks[0]
        exact = [task for task in tasks if str(task.get("title", "")).casefold() == words.casefold()]
        if len(exact) == 1:
            return exact[0]
        which = f"{primary} tasks" if found_in == primary else "tasks"
        shown = tasks[:MAX_CANDIDATES_SHOWN]
        lines = [f"Several {which} match '{_md(words)}':", *(_list_line(task, self.today) for task in shown)]
        if len(tasks) > len(shown):
            lines.append(f"_…and {len(tasks) - len(shown)} more._")
        lines.append(f"Which one? Reply with its number, e.g. “{_md(example(int(shown[0].get('id', 0))))}”.")
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
        task = _unwrap_task(self.call_tool(tool, {"task_id": task_id}))
        return f"{'Completed' if done else 'Reopened'} {_name(task)}."

    def _update(self, ref: TaskRef, intent: Delete | Rename | SetPriority | SetDue) -> str:
        """Delete, rename, re-prioritise or re-date one task."""
        task_id: int
        if ref.number is not None:
            task_id = ref.number
        else:
            found = self._resolve(ref, "open", lambda n: _example_command(intent, n))
            if isinstance(found, str):
                return found
            task_id = int(found["id"])
        match intent:
            case Delete():
                task = _unwrap_task(self.call_tool(DELETE_TASK, {"task_id": task_id}))
                return f"Deleted {_name(task)}."
            case Rename(new_title=title):
                task = _unwrap_task(self.call_tool(UPDATE_TASK, {"task_id": task_id, "title": title}))
                return f"Renamed task {task.get('id', task_id)} to **{_md(str(task.get('title', title)))}**."
            case SetPriority(priority=priority):
                task = _unwrap_task(self.call_tool(UPDATE_TASK, {"task_id": task_id, "priority": priority}))
                return f"{_capitalize(_name(task))} is now {task.get('priority', priority)} priority."
            case SetDue(due_date=None):
                task = _unwrap_task(self.call_tool(UPDATE_TASK, {"task_id": task_id, "clear_due_date": True}))
                return f"Removed the due date from {_name(task)}."
            case SetDue(due_date=due):
                assert due is not None
                arguments = {"task_id": task_id, "due_date": due.isoformat()}
                task = _unwrap_task(self.call_tool(UPDATE_TASK, arguments))
                return f"{_capitalize(_name(task))} is now due {_format_date(str(task.get('due_date', due)))}."
        raise AssertionError(f"unhandled intent {intent!r}")  # pragma: no cover


def _example_command(intent: Delete | Rename | SetPriority | SetDue, number: int) -> str:
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
        notice = FALLBACK_NOTICE.format(reason=_snippet(" ".join(fallback_reason.split()), 200))
        body = f"_{notice}_\n\n{body}"
    return OfflineReply(text=body, steps=runner.steps)
