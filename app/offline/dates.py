"""Date phrases to dates: "friday", "next week", "in 3 days", "2026-12-01", "Dec 1"...
Pure functions anchored on ``today``; the public entry points are ``parse_date``,
``extract_date``, ``due_value`` and ``next_monday``."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Literal

from app.offline.text import remove_span, unquote
from app.offline.vocabulary import (
    CLEAR_DUE_RE,
    DATE_PREP,
    DATE_SPAN,
    DAY_MONTH_DATE,
    FULL_WEEKDAYS,
    ISO_DATE,
    MONTH_DAY_DATE,
    MONTHS,
    NUMBER_WORDS,
    RELATIVE_DATE,
    US_DATE,
    WEEKDAY_DATE,
    WEEKDAYS,
)


def _upcoming(today: date, weekday: int) -> date:
    """The nearest day with this weekday on or after today."""
    return today + timedelta(days=(weekday - today.weekday()) % 7)


def next_monday(today: date) -> date:
    """The Monday of next week (Monday-to-Sunday weeks): "next week" and the end of "this week"."""
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
        return next_monday(today)
    if match["next_month"]:
        return date(today.year + 1, 1, 1) if today.month == 12 else date(today.year, today.month + 1, 1)
    if match["weekend"]:
        return today if today.weekday() >= 5 else _upcoming(today, 5)
    count_word = match["count"].lower()
    count = NUMBER_WORDS[count_word] if count_word in NUMBER_WORDS else int(count_word)
    days = count * 7 if match["unit"].lower().startswith("week") else count
    return today + timedelta(days=days)


def parse_date(expr: str, today: date) -> date | None:
    """Interpret one date expression ("friday", "in 3 days", "2026-12-01"...); None if invalid."""
    expr = " ".join(expr.split())
    try:
        if m := ISO_DATE.fullmatch(expr):
            return date(int(m["y"]), int(m["m"]), int(m["d"]))
        if m := US_DATE.fullmatch(expr):
            return _month_day(today, int(m["m"]), int(m["d"]), m["y"])
        if m := MONTH_DAY_DATE.fullmatch(expr) or DAY_MONTH_DATE.fullmatch(expr):
            return _month_day(today, MONTHS[m["mon"].lower()], int(m["d"]), m["y"])
        if m := RELATIVE_DATE.fullmatch(expr):
            return _relative_date(m, today)
        if m := WEEKDAY_DATE.fullmatch(expr):
            weekday = WEEKDAYS[m["day"].lower()]
            if (m["which"] or "").lower() == "next":
                return next_monday(today) + timedelta(days=weekday)
            return _upcoming(today, weekday)
    except (ValueError, OverflowError):
        return None
    return None


def due_value(text: str, today: date) -> date | Literal["clear"] | None:
    """A due date, "clear" for "no due date"/"none", or None when the text is not a date."""
    text = unquote(text)
    if re.fullmatch(CLEAR_DUE_RE, text, re.IGNORECASE):
        return "clear"
    text = re.sub(rf"^{DATE_PREP}\s*:?\s+", "", text, flags=re.IGNORECASE)
    return parse_date(text, today)


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
        value = parse_date(expr, today)
        if value is not None:
            chosen = (match, value)
    if chosen is None:
        return None, text
    return chosen[1], remove_span(text, chosen[0])
