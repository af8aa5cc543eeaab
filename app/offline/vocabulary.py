"""The words and regular expressions the parser knows: weekdays, months, numbers, priorities,
date forms, tags and the filler words around task references."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from contract.schemas import Priority

WEEKDAYS: Final[dict[str, int]] = {
    "monday": 0, "mon": 0,
    "tuesday": 1, "tues": 1, "tue": 1,
    "wednesday": 2, "weds": 2, "wed": 2,
    "thursday": 3, "thurs": 3, "thur": 3, "thu": 3,
    "friday": 4, "fri": 4,
    "saturday": 5, "sat": 5,
    "sunday": 6, "sun": 6,
}  # fmt: skip
FULL_WEEKDAYS: Final = frozenset(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
WEEKDAY_NAMES: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS: Final[dict[str, int]] = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
    "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}  # fmt: skip
NUMBER_WORDS: Final[dict[str, int]] = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
PRIORITY_WORDS: Final[dict[str, Priority]] = {
    "high": "high", "highest": "high", "top": "high", "hi": "high", "urgent": "high",
    "important": "high", "critical": "high", "asap": "high",
    "low": "low", "lowest": "low", "lo": "low",
    "medium": "medium", "med": "medium", "normal": "medium",
}  # fmt: skip


def _alternation(words: Sequence[str]) -> str:
    """A regex alternation that prefers longer words ("friday" before "fri")."""
    return "|".join(sorted(words, key=len, reverse=True))


_WEEKDAY_RE: Final = _alternation(list(WEEKDAYS))
_MONTH_RE: Final = _alternation(list(MONTHS))
_COUNT_RE: Final = rf"(?:\d{{1,4}}|{_alternation(list(NUMBER_WORDS))})"

# Date expressions, each also compiled on its own so a matched span can be interpreted.
RELATIVE_DATE: Final = re.compile(
    r"(?P<today>today|tonight|this\s+evening)"
    r"|(?P<after>(?:the\s+)?day\s+after\s+tomorrow)"
    r"|(?P<tomorrow>tomorrow|tmrw|tmr)"
    r"|(?P<next_week>next\s+week)"
    r"|(?P<next_month>next\s+month)"
    r"|(?P<weekend>(?:this\s+)?weekend)"
    rf"|in\s+(?P<count>{_COUNT_RE})\s+(?P<unit>days?|weeks?)",
    re.IGNORECASE,
)
WEEKDAY_DATE: Final = re.compile(
    rf"(?:(?P<which>this|next|coming|the\s+coming)\s+)?(?P<day>{_WEEKDAY_RE})", re.IGNORECASE
)
ISO_DATE: Final = re.compile(r"(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})")
US_DATE: Final = re.compile(r"(?P<m>\d{1,2})/(?P<d>\d{1,2})(?:/(?P<y>\d{4}|\d{2}))?")
MONTH_DAY_DATE: Final = re.compile(
    rf"(?P<mon>{_MONTH_RE})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y>\d{{4}}))?", re.IGNORECASE
)
DAY_MONTH_DATE: Final = re.compile(
    rf"(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?\s+(?P<mon>{_MONTH_RE})\.?(?:,?\s+(?P<y>\d{{4}}))?",
    re.IGNORECASE,
)
_DATE_PATTERNS: Final = (ISO_DATE, US_DATE, MONTH_DAY_DATE, DAY_MONTH_DATE, RELATIVE_DATE, WEEKDAY_DATE)
# All date forms in one expression, with the named groups made plain so it can be embedded anywhere.
DATE_EXPR_PLAIN: Final = re.sub(r"\(\?P<\w+>", "(?:", "|".join(f"(?:{p.pattern})" for p in _DATE_PATTERNS))
DATE_PREP: Final = (
    r"(?:due(?:\s+(?:on|by|date(?:\s+(?:of|is))?))?|by|on|for|before|until|till|deadline(?:\s+(?:is|of))?)"
)
DATE_SPAN: Final = re.compile(
    rf"(?<![\w#/.'-])(?:(?P<prep>{DATE_PREP})\s*:?\s+)?(?P<expr>{DATE_EXPR_PLAIN})(?![\w/'-])",
    re.IGNORECASE,
)
CLEAR_DUE_RE: Final = r"(?:none|nothing|never|someday|whenever|no\s+(?:due\s+)?date|no\s+deadline)"
DUE_VALUE_RE: Final = rf"(?:(?:{DATE_PREP})\s*:?\s+)?(?:{DATE_EXPR_PLAIN})|{CLEAR_DUE_RE}"

PRIORITY_PHRASE_RE: Final = (
    r"(?:(?:a|an)\s+)?(?:"
    r"(?:high|highest|top|low|lowest|medium|med|normal)(?:[\s-]+(?:priority|prio))?"
    r"|urgent|important|critical|asap|not\s+(?:urgent|important)"
    r"|(?:priority|prio)\s+(?:high|low|medium|normal))"
)
PRIORITY_INLINE: Final = re.compile(
    r"(?<![\w#!])(?:(?:with|at|as)\s+)?(?:(?:a|an)\s+)?"
    r"(?P<a>high|highest|top|low|lowest|medium|med|normal)[\s-]+(?:priority|prio)\b"
    r"|(?<![\w#])(?:priority|prio)\s*(?:[:=]|is|of)?\s*(?P<b>high|low|medium|normal)\b"
    r"|(?<![\w#])!(?P<c>high|hi|low|lo|medium|med|urgent)\b",
    re.IGNORECASE,
)
PRIORITY_AT_START: Final = re.compile(r"^(?P<w>urgent|important|asap|critical)\b[\s:,;-]*", re.IGNORECASE)
PRIORITY_AT_END: Final = re.compile(
    r"(?:^|[\s,;-])(?:(?P<not>not\s+(?:urgent|important))|(?P<w>urgent|important|asap|critical))[\s.!]*$",
    re.IGNORECASE,
)
TAG: Final = re.compile(r"(?<![\w&#/])#(?P<tag>[^\W\d_](?:[\w-]*\w)?)")

# Words that may surround a task reference without being part of it ("done with the report").
REF_LEADING_FILLER: Final = frozenset(
    (
        "the", "my", "a", "an", "with", "task", "tasks", "todo", "to-do", "item", "number", "no", "no.",
        "nr", "nr.", "that", "this", "these", "those", "it", "all", "everything", "one", "on", "about",
        "called", "named", "of", "for", "i", "i'm", "we", "off",
    )
)  # fmt: skip
REF_TRAILING_FILLER: Final = frozenset(("task", "tasks", "todo", "item", "one", "please", "again", "now", "too", "it"))
NUMBER_REF: Final = re.compile(r"#?\s*(?P<n>\d{1,9})")
QUOTES: Final = "'\"`"


def priority_from_phrase(phrase: str) -> Priority | None:
    """Map a phrase such as "high priority", "urgent" or "not urgent" to a priority."""
    words = phrase.lower().replace("-", " ").split()
    if not words:
        return None
    if words[0] == "not":
        return "low"
    for word in words:
        if word in PRIORITY_WORDS:
            return PRIORITY_WORDS[word]
    return None


def full_match(pattern: str) -> re.Pattern[str]:
    """Compile a case-insensitive pattern (the matchers and rules use it with ``fullmatch``)."""
    return re.compile(pattern, re.IGNORECASE)
