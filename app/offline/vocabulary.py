"""The words and regular expressions the parser knows: priorities, tags, the filler words around task references,
and the date forms (contract.dates holds them) as they appear inside a sentence."""

from __future__ import annotations

import re
from typing import Final

from contract.dates import DATE_PATTERNS
from contract.schemas import Priority

WEEKDAY_NAMES: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
PRIORITY_WORDS: Final[dict[str, Priority]] = {
    "high": "high", "highest": "high", "top": "high", "hi": "high", "urgent": "high",
    "important": "high", "critical": "high", "asap": "high",
    "low": "low", "lowest": "low", "lo": "low",
    "medium": "medium", "med": "medium", "normal": "medium",
}  # fmt: skip


# All date forms (contract.dates) in one expression, with the named groups made plain so it can be embedded anywhere.
DATE_EXPR_PLAIN: Final = re.sub(r"\(\?P<\w+>", "(?:", "|".join(f"(?:{p.pattern})" for p in DATE_PATTERNS))
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
# "…, tag health", "… tagged work and home": after the title (a bare "tag" only after a comma: "plan the tag line"
# is a title), ending the message or followed by a comma.
_TAG_NAME: Final = r"#?[^\W\d_](?:[\w-]*\w)?"
TAG_PHRASE: Final = re.compile(
    rf"(?:\s*[,;]\s*(?:tagged|tags?|label(?:l?ed)?)|\s+(?:tagged|label(?:l?)ed))\s+(?:(?:as|with)\s+)?"
    rf"(?P<tags>{_TAG_NAME}(?:\s*(?:,|\band\b)\s*{_TAG_NAME})*)(?=\s*(?:[,;.!]|$))",
    re.IGNORECASE,
)
TAG_NAME: Final = re.compile(_TAG_NAME)

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
