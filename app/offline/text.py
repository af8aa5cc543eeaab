"""Text helpers shared by the parser and the replies: input limits, normalising, politeness,
quotes, cleaning and cutting titles, and escaping Markdown."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from app.offline.vocabulary import QUOTES
from contract import limits

MAX_INPUT_CHARS: Final = 2000
MAX_TITLE_CHARS: Final = limits.TITLE_LENGTH
MAX_TAGS: Final = limits.TAGS_PER_TASK
MAX_TAG_CHARS: Final = limits.TAG_LENGTH


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


def normalize(text: str) -> str:
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


def strip_politeness(text: str) -> str:
    while True:
        stripped = _strip_trailing(_LEADING_POLITENESS.sub("", text, count=1))
        if stripped == text:
            return text
        text = stripped


def unquote(text: str) -> str:
    text = text.strip()
    while len(text) >= 2 and text[0] in QUOTES and text[-1] == text[0]:
        text = text[1:-1].strip()
    return text


def clean_title(raw: str) -> str:
    """The title left after removing commands and modifiers, cut to MAX_TITLE_CHARS."""
    return cut_to_title_length(tidy_title(raw))


def tidy_title(raw: str) -> str:
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
        cleaned = unquote(cleaned)
        if cleaned == text:
            break
        text = cleaned
    return text


def cut_to_title_length(text: str) -> str:
    """Cut to MAX_TITLE_CHARS without leaving trailing spaces."""
    return text[:MAX_TITLE_CHARS].rstrip()


def remove_span(text: str, match: re.Match[str]) -> str:
    return f"{text[: match.start()]} {text[match.end() :]}"


_MARKDOWN_SPECIAL: Final = re.compile(r"([\\`*_\[\]<>~|$])")


def escape_markdown(text: str) -> str:
    """Escape text so Markdown (and Streamlit's $math$) shows it literally."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def snippet(text: str, limit: int = 60) -> str:
    return escape_markdown(text if len(text) <= limit else text[: limit - 1].rstrip() + "…")
