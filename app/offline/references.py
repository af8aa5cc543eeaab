"""Task references: "3", "task #3", "the report" or "'buy milk'" turned into a ``TaskRef``."""

from __future__ import annotations

from app.offline.intents import TaskRef
from app.offline.text import _limit, _unquote
from app.offline.vocabulary import _NUMBER_REF, _QUOTES, _REF_LEADING_FILLER, _REF_TRAILING_FILLER


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
