"""The page counts dates where the user is: the browser's time zone goes to the tool server on every call and sets
the today the offline assistant reads phrases from; the offline assistant reads them with the server's rules
(contract/dates.py), "end of month" and "end of week" included."""

import datetime as dt
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from streamlit.testing.v1 import AppTest

from app.client import TodoClient
from app.offline import AddTask, Intent, ListTasks, SetDue, TaskRef, parse
from contract.dates import today_in

PAGE = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
THURSDAY = date(2026, 11, 26)
KIRITIMATI, PAGO_PAGO = "Pacific/Kiritimati", "Pacific/Pago_Pago"  # UTC+14 and UTC-11: never the same date

SHARED_RULES = [
    ("add pay rent end of month", AddTask("pay rent", due_date=date(2026, 11, 30))),
    ("add pay rent by the end of the month", AddTask("pay rent", due_date=date(2026, 11, 30))),
    ("add send invoices by end of week", AddTask("send invoices", due_date=date(2026, 11, 29))),
    ("add renew passport on Feb 29", AddTask("renew passport", due_date=date(2028, 2, 29))),  # the next leap day
    ("move 3 to end of month", SetDue(TaskRef(number=3), date(2026, 11, 30))),
    ("what's due by end of week", ListTasks(due_before=date(2026, 11, 30))),  # exclusive: through Sunday
]


@pytest.mark.parametrize(("text", "expected"), SHARED_RULES, ids=[text for text, _ in SHARED_RULES])
def test_the_offline_assistant_reads_the_shared_date_rules(text: str, expected: Intent) -> None:
    assert parse(text, THURSDAY) == expected


def page_in(zone: str | None, message: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.context = {"timezone": zone}
    at.run()
    at.chat_input[0].set_value(message).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("zone", [KIRITIMATI, PAGO_PAGO])
def test_tomorrow_on_the_page_is_tomorrow_in_the_browsers_zone(page_env: str, todo: TodoClient, zone: str) -> None:
    before = today_in(ZoneInfo(zone))
    page_in(zone, "add call mom tomorrow")
    [task] = todo.list_tasks().tasks
    assert task.due_date in {before + dt.timedelta(days=1), today_in(ZoneInfo(zone)) + dt.timedelta(days=1)}


@pytest.mark.parametrize("zone", [KIRITIMATI, PAGO_PAGO])
def test_overdue_on_the_page_is_before_today_in_the_browsers_zone(page_env: str, todo: TodoClient, zone: str) -> None:
    """The page's calls carry the zone: UTC's date differs from at least one of these zones' at any time."""
    today = today_in(ZoneInfo(zone))
    mine = todo
    mine.add_task("yesterday there", due_date=today - dt.timedelta(days=1))
    mine.add_task("today there", due_date=today)
    at = page_in(zone, "what's overdue?")
    reply = " ".join(markdown.value for markdown in at.markdown)
    if today_in(ZoneInfo(zone)) == today:  # not run across that zone's midnight
        assert "yesterday there" in reply and "today there" not in reply, reply


@pytest.mark.parametrize("zone", [None, "Mars/Olympus_Mons"])
def test_without_a_known_zone_the_page_counts_in_utc(page_env: str, todo: TodoClient, zone: str | None) -> None:
    """A browser zone this machine does not know is not sent: the page keeps working, in UTC."""
    before = today_in(dt.UTC)
    page_in(zone, "add call mom tomorrow")
    [task] = todo.list_tasks().tasks
    assert task.due_date in {before + dt.timedelta(days=1), today_in(dt.UTC) + dt.timedelta(days=1)}
