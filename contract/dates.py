"""The date rules, written once: which phrases name a day ("friday", "in 3 days", "end of month", "Dec 15",
"2026-12-01") and which day each names, counted from the user's today in the user's time zone.

The tool server resolves its date arguments with `resolve_date`; the offline assistant finds these phrases inside
sentences (app/offline/dates.py) and resolves them with the same function, so both read a phrase the same way.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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

# What a refusal and the tools' schema say works: the forms below, in a few examples.
DATE_FORMS: Final = (
    "YYYY-MM-DD or a phrase such as today, tomorrow, friday, next friday, next week, in 3 days, this weekend, "
    "end of month, Dec 15 or 12/15 (month/day)"
)


def _alternation(words: Sequence[str]) -> str:
    """A regex alternation that prefers longer words ("friday" before "fri")."""
    return "|".join(sorted(words, key=len, reverse=True))


_WEEKDAY_RE: Final = _alternation(list(WEEKDAYS))
_MONTH_RE: Final = _alternation(list(MONTHS))
_COUNT_RE: Final = rf"(?:\d{{1,4}}|{_alternation(list(NUMBER_WORDS))})"
_END_OF: Final = r"(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?"

# Each form of a date on its own, with named groups that say which day it is.
RELATIVE_DATE: Final = re.compile(
    r"(?P<today>today|tonight|this\s+evening)"
    r"|(?P<after>(?:the\s+)?day\s+after\s+tomorrow)"
    r"|(?P<tomorrow>tomorrow|tmrw|tmr)"
    r"|(?P<next_week>next\s+week)"
    r"|(?P<next_month>next\s+month)"
    rf"|(?P<end_week>{_END_OF}week)"
    rf"|(?P<end_month>{_END_OF}month)"
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
DATE_PATTERNS: Final = (ISO_DATE, US_DATE, MONTH_DAY_DATE, DAY_MONTH_DATE, RELATIVE_DATE, WEEKDAY_DATE)


def _upcoming(today: date, weekday: int) -> date:
    """The nearest day with this weekday on or after today."""
    return today + timedelta(days=(weekday - today.weekday()) % 7)


def next_monday(today: date) -> date:
    """The Monday of next week (Monday-to-Sunday weeks): "next week" and the day after "end of week"."""
    return today + timedelta(days=7 - today.weekday())


def _first_of_next_month(today: date) -> date:
    return date(today.year + 1, 1, 1) if today.month == 12 else date(today.year, today.month + 1, 1)


def _month_day(today: date, month: int, day: int, year: str | None) -> date:
    """That day of that year; without a year, the next such day on or after today (Feb 29: the next leap year's)."""
    if year is not None:
        return date(int(year) + (2000 if len(year) == 2 else 0), month, day)
    for candidate_year in range(today.year, today.year + 9):  # leap years are at most 8 years apart
        try:
            candidate = date(candidate_year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    raise ValueError(f"no day {month}/{day} on or after {today}")


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
        return _first_of_next_month(today)
    if match["end_week"]:
        return next_monday(today) - timedelta(days=1)
    if match["end_month"]:
        return _first_of_next_month(today) - timedelta(days=1)
    if match["weekend"]:
        return today if today.weekday() >= 5 else _upcoming(today, 5)
    count_word = match["count"].lower()
    count = NUMBER_WORDS[count_word] if count_word in NUMBER_WORDS else int(count_word)
    days = count * 7 if match["unit"].lower().startswith("week") else count
    return today + timedelta(days=days)


def resolve_date(text: str, today: date) -> date | None:
    """The day a whole phrase names ("friday", "in 3 days", "2026-12-01"...) counted from `today`; None when the
    phrase is not one of the forms DATE_FORMS lists, or names no real day ("2026-02-30").

    A weekday is the nearest such day on or after today ("friday" on a Friday is today); "next friday" is the Friday
    of next week. A date without a year is the next such date on or after today. Weeks run Monday to Sunday."""
    text = " ".join(text.split())
    try:
        if m := ISO_DATE.fullmatch(text):
            return date(int(m["y"]), int(m["m"]), int(m["d"]))
        if m := US_DATE.fullmatch(text):
            return _month_day(today, int(m["m"]), int(m["d"]), m["y"])
        if m := MONTH_DAY_DATE.fullmatch(text) or DAY_MONTH_DATE.fullmatch(text):
            return _month_day(today, MONTHS[m["mon"].lower()], int(m["d"]), m["y"])
        if m := RELATIVE_DATE.fullmatch(text):
            return _relative_date(m, today)
        if m := WEEKDAY_DATE.fullmatch(text):
            weekday = WEEKDAYS[m["day"].lower()]
            if (m["which"] or "").lower() == "next":
                return next_monday(today) + timedelta(days=weekday)
            return _upcoming(today, weekday)
    except (ValueError, OverflowError):
        return None
    return None


# An IANA zone name as a browser reports one ("Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "UTC").
_ZONE_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+){0,2}")
ZONE_NAME_LENGTH: Final = 64


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone of this name ("Europe/Paris"). Raises ValueError saying what is wrong, without repeating
    the name (it comes from a request)."""
    if len(name) > ZONE_NAME_LENGTH or not _ZONE_NAME.fullmatch(name):
        raise ValueError("not an IANA time zone name such as Europe/Paris or UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown, or a file of the database that is not a zone
        raise ValueError("no such IANA time zone (names look like Europe/Paris or UTC)") from None


def today_in(zone: dt.tzinfo) -> date:
    """Today's date where the user is."""
    return dt.datetime.now(zone).date()
