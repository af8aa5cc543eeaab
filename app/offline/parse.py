"""``parse()``: normalise a chat message, answer help requests, then try each matcher in turn."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import date
from typing import Final, TypeAlias

from app.offline.intents import Help, Intent, Unknown
from app.offline.matchers import match_add, match_list
from app.offline.rules import match_rules
from app.offline.text import normalize, strip_politeness

_HELP: Final = re.compile(
    r"\?+|/?help(?:\s+me)?|h|commands|usage|menu|/?start|hi|hello|hey|what\s+are\s+you|"
    r"what\s+can\s+(?:you|i)\s+(?:do|say|ask)(?:\s+here)?|how\s+does\s+(?:this|it)\s+work|"
    r"how\s+do\s+i\s+use\s+(?:this|it|you)|what\s+do\s+you\s+(?:do|understand)",
    re.IGNORECASE,
)

# A matcher takes the cleaned message and returns an intent, or None to let the next one try.
Matcher: TypeAlias = Callable[[str, date], Intent | None]
_MATCHERS: Final[tuple[Matcher, ...]] = (match_add, match_list, match_rules)


def parse(text: str, today: date) -> Intent:
    """Understand one chat message. Pure: no I/O; ``today`` anchors relative dates."""
    original = normalize(text)
    if not original:
        return Unknown("")
    if _HELP.fullmatch(original.rstrip(" .!")):
        return Help()
    cleaned = strip_politeness(original)
    if not cleaned:
        return Unknown(original)
    if _HELP.fullmatch(cleaned):
        return Help()
    for matcher in _MATCHERS:
        intent = matcher(cleaned, today)
        if intent is not None:
            return dataclasses.replace(intent, text=original) if isinstance(intent, Unknown) else intent
    return Unknown(original)
