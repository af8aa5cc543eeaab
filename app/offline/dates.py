"""Dates inside a message: find the date phrase in "add call mom friday", read a due value ("none" clears it).
The date rules themselves (which phrases, which day each names) are contract.dates', shared with the tool server;
the public entry points here are ``extract_date`` and ``due_value``."""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from app.offline.text import remove_span, unquote
from app.offline.vocabulary import CLEAR_DUE_RE, DATE_PREP, DATE_SPAN
from contract.dates import FULL_WEEKDAYS, US_DATE, WEEKDAYS, resolve_date


def due_value(text: str, today: date) -> date | Literal["clear"] | None:
    """A due date, "clear" for "no due date"/"none", or None when the text is not a date."""
    text = unquote(text)
    if re.fullmatch(CLEAR_DUE_RE, text, re.IGNORECASE):
        return "clear"
    text = re.sub(rf"^{DATE_PREP}\s*:?\s+", "", text, flags=re.IGNORECASE)
    return resolve_date(text, today)


def _bare_date_allowed(expr: str, rest_after: str) -> bool:
    """May this date expression count without a preposition ("by", "on", "due"...) in front?"""
    words = expr.lower().split()
    if len(words) == 1 and words[0] in WEEKDAYS:
        return words[0] in FULL_WEEKDAYS and not rest_after.strip(" ,;:.!?")
    if words == ["weekend"]:
        return False
    return not US_DATE.fullmatch(expr)


def extract_date(text: str, today: date) -> tuple[date | None, str]:
    """Find the last date phrase in an "add" message; return it and the text without it."""
    chosen: tuple[re.Match[str], date] | None = None
    for match in DATE_SPAN.finditer(text):
        expr = match["expr"]
        if match["prep"] is None and not _bare_date_allowed(expr, text[match.end() :]):
            continue
        value = resolve_date(expr, today)
        if value is not None:
            chosen = (match, value)
    if chosen is None:
        return None, text
    return chosen[1], remove_span(text, chosen[0])
