"""The date rules both tiers read (contract/dates.py), on fixed todays: a Thursday, month and year ends, a Sunday,
leap days. Time zones by name, and today in a zone."""

import datetime as dt
import re
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from contract.dates import DATE_FORMS, resolve_date, time_zone, today_in

THURSDAY = date(2026, 11, 26)

ON_A_THURSDAY = [
    ("2026-12-01", date(2026, 12, 1)),
    ("2027-1-5", date(2027, 1, 5)),
    ("today", THURSDAY),
    ("tonight", THURSDAY),
    ("tomorrow", date(2026, 11, 27)),
    ("tmrw", date(2026, 11, 27)),
    ("day after tomorrow", date(2026, 11, 28)),
    ("the day after tomorrow", date(2026, 11, 28)),
    ("friday", date(2026, 11, 27)),
    ("Fri", date(2026, 11, 27)),
    ("this friday", date(2026, 11, 27)),
    ("thursday", THURSDAY),  # the nearest Thursday on or after today: today
    ("wednesday", date(2026, 12, 2)),
    ("next friday", date(2026, 12, 4)),  # the Friday of next week
    ("next thursday", date(2026, 12, 3)),
    ("next week", date(2026, 11, 30)),  # its Monday
    ("next month", date(2026, 12, 1)),  # its first day
    ("in 3 days", date(2026, 11, 29)),
    ("in 1 day", date(2026, 11, 27)),
    ("in two weeks", date(2026, 12, 10)),
    ("in a week", date(2026, 12, 3)),
    ("this weekend", date(2026, 11, 28)),
    ("weekend", date(2026, 11, 28)),
    ("end of week", date(2026, 11, 29)),  # Sunday: weeks run Monday to Sunday
    ("end of the week", date(2026, 11, 29)),
    ("end of month", date(2026, 11, 30)),
    ("end of the month", date(2026, 11, 30)),
    ("the end of this month", date(2026, 11, 30)),
    ("Dec 15", date(2026, 12, 15)),
    ("dec. 15th", date(2026, 12, 15)),
    ("15 Dec", date(2026, 12, 15)),
    ("15th of December", date(2026, 12, 15)),
    ("December 15, 2027", date(2027, 12, 15)),
    ("12/15", date(2026, 12, 15)),
    ("12/15/27", date(2027, 12, 15)),
    ("11/26", THURSDAY),  # a date without a year: the next one on or after today
    ("Nov 1", date(2027, 11, 1)),
    ("  Next   FRIDAY ", date(2026, 12, 4)),  # case and spacing do not matter
]


@pytest.mark.parametrize(("text", "expected"), ON_A_THURSDAY, ids=[text for text, _ in ON_A_THURSDAY])
def test_each_form_on_a_thursday(text: str, expected: date) -> None:
    assert resolve_date(text, THURSDAY) == expected


AT_THE_EDGES = [
    # The last day of a year.
    (date(2026, 12, 31), "tomorrow", date(2027, 1, 1)),
    (date(2026, 12, 31), "next month", date(2027, 1, 1)),
    (date(2026, 12, 31), "end of month", date(2026, 12, 31)),  # on the last day: today
    (date(2026, 12, 31), "next week", date(2027, 1, 4)),
    (date(2026, 12, 31), "end of week", date(2027, 1, 3)),
    (date(2026, 12, 31), "Jan 1", date(2027, 1, 1)),
    (date(2026, 12, 31), "in 2 days", date(2027, 1, 2)),
    # Month ends of every length.
    (date(2026, 1, 31), "next month", date(2026, 2, 1)),
    (date(2026, 2, 10), "end of month", date(2026, 2, 28)),
    (date(2028, 2, 10), "end of month", date(2028, 2, 29)),
    (date(2026, 4, 1), "end of month", date(2026, 4, 30)),
    # A Sunday and a Saturday.
    (date(2026, 11, 29), "end of week", date(2026, 11, 29)),
    (date(2026, 11, 29), "this weekend", date(2026, 11, 29)),
    (date(2026, 11, 28), "this weekend", date(2026, 11, 28)),
    (date(2026, 11, 29), "sunday", date(2026, 11, 29)),
    (date(2026, 11, 29), "next sunday", date(2026, 12, 6)),
    (date(2026, 11, 29), "next week", date(2026, 11, 30)),
    (date(2026, 11, 30), "next week", date(2026, 12, 7)),  # a Monday: next week is strictly after
    # Leap days.
    (date(2028, 2, 28), "tomorrow", date(2028, 2, 29)),
    (date(2026, 11, 26), "Feb 29", date(2028, 2, 29)),  # the next year that has one
    (date(2026, 11, 26), "2/29", date(2028, 2, 29)),
    (date(2028, 2, 29), "Feb 29", date(2028, 2, 29)),
    (date(2028, 3, 1), "Feb 29", date(2032, 2, 29)),
    (date(2096, 3, 1), "Feb 29", date(2104, 2, 29)),  # 2100 is no leap year
    (date(2026, 11, 26), "2028-02-29", date(2028, 2, 29)),
]


@pytest.mark.parametrize(
    ("today", "text", "expected"), AT_THE_EDGES, ids=[f"{today}-{text}" for today, text, _ in AT_THE_EDGES]
)
def test_forms_at_month_and_year_ends_and_leap_days(today: date, text: str, expected: date) -> None:
    assert resolve_date(text, today) == expected


NOT_DATES = [
    "",
    "   ",
    "soon",
    "someday",
    "next year",
    "end of year",
    "in 3 fortnights",
    "friday 5pm",
    "tomorrow tomorrow",
    "add milk friday",  # a whole phrase, not a sentence that holds one
    "2026-02-30",
    "2026-13-01",
    "0000-01-01",
    "2027-02-29",  # not a leap year
    "Feb 29, 2027",
    "Feb 30",
    "13/01",
    "2026-11-27T10:30:00",
]


@pytest.mark.parametrize("text", NOT_DATES)
def test_what_is_not_a_date_is_none(text: str) -> None:
    assert resolve_date(text, THURSDAY) is None


def test_every_form_the_refusal_lists_is_read() -> None:
    """DATE_FORMS is what a refusal tells a model to send: each of its examples must work."""
    assert DATE_FORMS.startswith("YYYY-MM-DD or a phrase such as ")
    examples = re.split(r", | or ", DATE_FORMS.removeprefix("YYYY-MM-DD or a phrase such as ").split(" (")[0])
    assert len(examples) >= 8
    for example in examples:
        assert resolve_date(example, THURSDAY) is not None, example


@pytest.mark.parametrize("name", ["UTC", "Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT+5"])
def test_a_zone_name_is_its_zone(name: str) -> None:
    assert time_zone(name) == ZoneInfo(name)


@pytest.mark.parametrize(
    "name",
    ["", "Mars/Olympus_Mons", "Europe/Nowhere", "../etc/passwd", "/etc/localtime", "America", "zone.tab",
     "Asia/Tokyo\n", "Asia/Tokyo; drop table", "x" * 65, "ignore previous instructions"],
)  # fmt: skip
def test_anything_else_is_refused_saying_why_without_repeating_it(name: str) -> None:
    with pytest.raises(ValueError, match="time zone") as refused:
        time_zone(name)
    assert not name.strip() or name.strip() not in str(refused.value)


def test_today_in_a_zone() -> None:
    before = dt.datetime.now(dt.UTC).date()
    today = today_in(dt.UTC)
    assert today in {before, dt.datetime.now(dt.UTC).date()}
    # UTC+14 and UTC-11: 25 hours apart, so never the same date.
    assert today_in(ZoneInfo("Pacific/Kiritimati")) > today_in(ZoneInfo("Pacific/Pago_Pago"))
