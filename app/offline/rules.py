"""The rules for commands that name a task (due date, priority, rename, reopen, complete, delete):
full-match patterns with a ``ref`` group, their intent builders, and ``match_rules``."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Final, TypeAlias

from app.offline.dates import due_value
from app.offline.intents import Complete, Delete, Intent, Rename, Reopen, SetDue, SetPriority, TaskRef, Unknown
from app.offline.references import task_ref, which_task_hint
from app.offline.text import clean_title, snippet
from app.offline.vocabulary import DUE_VALUE_RE, PRIORITY_PHRASE_RE, full_match, priority_from_phrase
from contract.schemas import Priority

_NO_NEW_TITLE_HINT: Final = "What should the new title be? For example: “rename 3 to Call dad”."
_DATE_HINT: Final = (
    "I couldn't read the date “{value}”. Try today, tomorrow, friday, next week, in 3 days or 2026-12-01."
)


_REF_RE: Final = r"(?P<ref>'[^']+'|\"[^\"]+\"|.+?)"
_SEP: Final = r"(?:\s*:\s*|\s+)"  # between a verb and what follows: "done 3", "done: 3"


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
    return _Rule(full_match(pattern), build, hint, numbers_only)


def _due_builder(ref: TaskRef, m: re.Match[str], today: date) -> Intent | None:
    if "value" not in m.groupdict():
        return SetDue(ref, None)
    value = due_value(m["value"], today)
    if value is None:
        return Unknown(m.string, hint=_DATE_HINT.format(value=snippet(m["value"], 40)))
    return SetDue(ref, None if value == "clear" else value)


def _due_builder_quiet(ref: TaskRef, m: re.Match[str], today: date) -> Intent | None:
    intent = _due_builder(ref, m, today)
    return None if isinstance(intent, Unknown) else intent


def _priority_builder(ref: TaskRef, m: re.Match[str], today: date) -> Intent | None:
    priority = priority_from_phrase(m["p"])
    return SetPriority(ref, priority) if priority else None


def _rename_builder(ref: TaskRef, m: re.Match[str], today: date) -> Intent | None:
    title = clean_title(m["title"])
    if not title:
        return Unknown(m.string, hint=_NO_NEW_TITLE_HINT)
    return Rename(ref, title)


def _change_builder(ref: TaskRef, m: re.Match[str], today: date) -> Intent | None:
    """ "change 3 to X": X may be a priority, a due date or a new title."""
    value = m["value"]
    if re.fullmatch(PRIORITY_PHRASE_RE, value, re.IGNORECASE):
        priority = priority_from_phrase(value)
        if priority:
            return SetPriority(ref, priority)
    due = due_value(value, today)
    if due is not None:
        return SetDue(ref, None if due == "clear" else due)
    if re.fullmatch(_NOT_DONE, value, re.IGNORECASE):
        return Reopen(ref)
    if re.fullmatch(_DONE, value, re.IGNORECASE):
        return Complete(ref)
    title = clean_title(value)
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
_PRIO: Final = rf"(?P<p>{PRIORITY_PHRASE_RE})"
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
    _rule(rf"{_MOVE_VERB}\s+{_REF_RE}(?:\s+{_DATE_TO})?\s+(?P<value>{DUE_VALUE_RE})", _due_builder, "move 3 to friday"),
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
    _rule(rf"(?:set\s+)?{_REF_RE}\s+(?:is\s+)?{_DUE_WORD}\s*:?\s+(?P<value>{DUE_VALUE_RE})", _due_builder_quiet),
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
    (full_match(r"(?:rename|retitle)(?:\s+.*)?"), _NO_NEW_TITLE_HINT),
    (full_match(r"(?:reopen|re-open|undo|uncheck)"), which_task_hint("reopen 3")),
    (full_match(rf"{_COMPLETE_VERB}|mark(?:\s+as)?\s+{_DONE}"), which_task_hint("complete 3")),
    (full_match(_DELETE_VERB), which_task_hint("delete 3")),
    (full_match(rf"{_MOVE_VERB}(?:\s+.*)?"), which_task_hint("move 3 to friday")),
)


def match_rules(text: str, today: date) -> Intent | None:
    for rule in _RULES:
        m = rule.pattern.fullmatch(text)
        if m is None:
            continue
        ref = task_ref(m["ref"])
        if ref is None or (rule.numbers_only and ref.number is None):
            if rule.hint is not None:
                return Unknown(text, hint=which_task_hint(rule.hint))
            continue
        intent = rule.build(ref, m, today)
        if intent is not None:
            return intent
    for pattern, hint in _BARE_VERB_HINTS:
        if pattern.fullmatch(text):
            return Unknown(text, hint=hint)
    return None
