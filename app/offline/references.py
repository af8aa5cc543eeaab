"""Task references: "3", "task #3", "the report" or "'buy milk'" turned into a ``TaskRef``."""

from __future__ import annotations

from app.offline.intents import TaskRef
from app.offline.text import cut_to_title_length, unquote
from app.offline.vocabulary import NUMBER_REF, QUOTES, REF_LEADING_FILLER, REF_TRAILING_FILLER


def task_ref(raw: str) -> TaskRef | None:
    """Parse "3", "task #3", "the report", "'buy milk'" into a TaskRef; None when nothing is left."""
    text = raw.strip().strip(",;:.!?")
    if len(text) >= 2 and text[0] in QUOTES and text[-1] == text[0]:
        words = unquote(text)
        return TaskRef(words=cut_to_title_length(words)) if words else None
    tokens = text.split()
    while tokens and tokens[0].lower() in REF_LEADING_FILLER:
        tokens.pop(0)
    while tokens and tokens[-1].lower() in REF_TRAILING_FILLER:
        tokens.pop()
    phrase = " ".join(tokens)
    if m := NUMBER_REF.fullmatch(phrase):
        return TaskRef(number=int(m["n"]))
    phrase = unquote(phrase)
    return TaskRef(words=cut_to_title_length(phrase)) if phrase else None


def which_task_hint(example: str) -> str:
    return f"Which task do you mean? Give its number or words from its title, e.g. “{example}”."
