"""Date phrases in tool arguments ("friday", "in 3 days", "end of month"), resolved by the server from the caller's
today in the caller's time zone (X-Todo-Timezone; UTC without one), over real HTTP against real Postgres.

Which day each phrase names is pinned by tests/contract/test_dates.py; here, that the server uses those rules, the
right today, and refuses what is not a date without changing anything. The clock is not fixed: each expected date
is computed from the zone's today, before and after the call, so a test that runs across midnight still holds."""

import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any
from zoneinfo import ZoneInfo

import httpx2
import psycopg
import pytest
from mcp import Client

from contract.dates import DATE_FORMS, resolve_date, today_in
from tests.support import TOKEN, ServerThread, failed, mcp_client, ok, personal_token

pytestmark = pytest.mark.anyio

KIRITIMATI, PAGO_PAGO = "Pacific/Kiritimati", "Pacific/Pago_Pago"  # UTC+14 and UTC-11: never the same date
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


def in_zone(mcp_url: str, user: str, zone: str) -> Any:
    return mcp_client(mcp_url, user=user, **{"X-Todo-Timezone": zone})


class Expect:
    """The dates a call may rightly give: `day(today)` for the zone's today just before and just after it."""

    def __init__(self, zone: dt.tzinfo, day: Callable[[dt.date], dt.date | None]):
        self.zone, self.day = zone, day

    async def __aenter__(self) -> "Expect":
        self.before = self.day(today_in(self.zone))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.after = self.day(today_in(self.zone))

    def allows(self, iso: str | None) -> bool:
        return iso in {str(self.before), str(self.after)}


def phrase(text: str) -> Callable[[dt.date], dt.date | None]:
    return lambda today: resolve_date(text, today)


def stored_due_dates(pg: psycopg.Connection, user: str) -> dict[int, dt.date | None]:
    rows = pg.execute("SELECT number, due_date FROM tasks WHERE user_id = %s ORDER BY number", [user]).fetchall()
    return dict(rows)  # type: ignore[arg-type]


@pytest.fixture
async def paris(mcp_url: str, user_id: str) -> AsyncIterator[Client]:
    async with in_zone(mcp_url, user_id, "Europe/Paris") as client:
        yield client


async def test_add_task_with_friday_stores_the_coming_friday(
    client: Client, user_id: str, pg: psycopg.Connection
) -> None:
    def coming_friday(today: dt.date) -> dt.date:  # written out, not read from the rules
        return today + dt.timedelta(days=(4 - today.weekday()) % 7)

    async with Expect(dt.UTC, coming_friday) as expect:
        task = ok(await client.call_tool("add_task", {"title": "call mom", "due_date": "friday"}))
    assert expect.allows(task["due_date"]), "the result shows the date the phrase became, as YYYY-MM-DD"
    assert stored_due_dates(pg, user_id) == {1: dt.date.fromisoformat(task["due_date"])}


@pytest.mark.parametrize(
    "text",
    ["today", "tomorrow", "day after tomorrow", "Next Friday", "next week", "in 3 days", "in two weeks",
     "this weekend", "end of month", "end of the week", "Dec 15", "15 Dec", "December 15, 2030", "12/15",
     "2027-03-04", "  next  month  "],
)  # fmt: skip
async def test_every_form_is_stored_as_the_day_it_names_in_the_callers_zone(paris: Client, text: str) -> None:
    async with Expect(ZoneInfo("Europe/Paris"), phrase(text)) as expect:
        task = ok(await paris.call_tool("add_task", {"title": "t", "due_date": text}))
    assert expect.allows(task["due_date"]), (text, task["due_date"])


async def test_the_same_phrase_names_the_users_day_in_each_zone(mcp_url: str, user_id: str) -> None:
    """At one instant it is one date in Kiritimati and an earlier one in Pago Pago: "today" and "tomorrow" follow."""
    got: dict[str, list[str]] = {}
    for zone in (KIRITIMATI, PAGO_PAGO):
        async with in_zone(mcp_url, user_id, zone) as client:
            for text in ("today", "tomorrow"):
                async with Expect(ZoneInfo(zone), phrase(text)) as expect:
                    task = ok(await client.call_tool("add_task", {"title": f"{text} in {zone}", "due_date": text}))
                assert expect.allows(task["due_date"]), (zone, text, task["due_date"])
                got.setdefault(zone, []).append(task["due_date"])
    assert got[KIRITIMATI][0] > got[PAGO_PAGO][0], "the same phrase, a day or two apart"


async def test_without_a_zone_phrases_count_from_utc(client: Client) -> None:
    async with Expect(dt.UTC, phrase("tomorrow")) as expect:
        task = ok(await client.call_tool("add_task", {"title": "t", "due_date": "tomorrow"}))
    assert expect.allows(task["due_date"])


async def test_update_task_takes_a_phrase_and_clearing_still_works(paris: Client) -> None:
    ok(await paris.call_tool("add_task", {"title": "report", "due_date": "2026-12-01"}))
    async with Expect(ZoneInfo("Europe/Paris"), phrase("end of month")) as expect:
        moved = ok(await paris.call_tool("update_task", {"task_id": 1, "due_date": "end of month"}))
    assert expect.allows(moved["due_date"])
    cleared = ok(await paris.call_tool("update_task", {"task_id": 1, "clear_due_date": True}))
    assert cleared["due_date"] is None
    assert "not both" in failed(
        await paris.call_tool("update_task", {"task_id": 1, "due_date": "friday", "clear_due_date": True})
    )


@pytest.mark.parametrize("text", ["someday", "next fortnight", "friday-ish", "2026-02-30", "Feb 30", "end of year"])
async def test_a_phrase_that_is_no_date_is_refused_saying_what_works_and_nothing_changes(
    client: Client, user_id: str, pg: psycopg.Connection, text: str
) -> None:
    message = failed(await client.call_tool("add_task", {"title": "t", "due_date": text}))
    assert message.startswith("Invalid arguments for add_task: due_date: ")
    assert DATE_FORMS in message and "Nothing was changed" in message
    assert text not in message, "the rejected text is not repeated back"
    assert stored_due_dates(pg, user_id) == {}
    ok(await client.call_tool("add_task", {"title": "kept", "due_date": "2026-12-24"}))
    for tool, field, arguments in [
        ("update_task", "due_date", {"task_id": 1}),
        ("list_tasks", "due_before", {}),
    ]:
        refusal = failed(await client.call_tool(tool, {**arguments, field: text}))
        assert refusal.startswith(f"Invalid arguments for {tool}: {field}: ") and DATE_FORMS in refusal
    assert stored_due_dates(pg, user_id) == {1: dt.date(2026, 12, 24)}, "a refused update changed nothing"


async def test_list_due_before_a_phrase_is_exclusive_in_the_callers_zone(mcp_url: str, user_id: str) -> None:
    zone = ZoneInfo(KIRITIMATI)
    async with in_zone(mcp_url, user_id, KIRITIMATI) as client:
        today = today_in(zone)
        for title, day in [("today", today), ("tomorrow", today + dt.timedelta(days=1)), ("later", None)]:
            ok(await client.call_tool("add_task", {"title": title, "due_date": day and day.isoformat()}))
        listed = ok(await client.call_tool("list_tasks", {"due_before": "tomorrow"}))
    if today_in(zone) == today:  # not run across Kiritimati's midnight
        assert [task["title"] for task in listed["tasks"]] == ["today"]


@pytest.mark.parametrize("zone", [KIRITIMATI, PAGO_PAGO])
async def test_overdue_means_before_the_callers_today(mcp_url: str, user_id: str, zone: str) -> None:
    """UTC's date differs from at least one of these zones' at any time: the server's own date would fail one."""
    today = today_in(ZoneInfo(zone))
    async with in_zone(mcp_url, user_id, zone) as client:
        for title, day in [("yesterday there", today - dt.timedelta(days=1)), ("today there", today)]:
            ok(await client.call_tool("add_task", {"title": title, "due_date": day.isoformat()}))
        overdue = ok(await client.call_tool("list_tasks", {"overdue": True}))
    if today_in(ZoneInfo(zone)) == today:
        assert [task["title"] for task in overdue["tasks"]] == ["yesterday there"]


async def test_a_personal_token_may_name_its_zone_too(mcp_url: str, user_id: str, client: Client) -> None:
    token = await personal_token(client)
    async with (
        mcp_client(mcp_url, token, **{"X-Todo-Timezone": KIRITIMATI}) as mine,
        Expect(ZoneInfo(KIRITIMATI), phrase("today")) as expect,
    ):
        task = ok(await mine.call_tool("add_task", {"title": "t", "due_date": "today"}))
    assert expect.allows(task["due_date"])


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "utc+2", "Europe", "../../etc/passwd", "x" * 100, ""])
def test_an_unknown_time_zone_is_refused_with_400(mcp_server: ServerThread, user_id: str, zone: str) -> None:
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "Authorization": f"Bearer {TOKEN}",
        "X-Todo-User": user_id,
        "X-Todo-Timezone": zone,
    }
    response = httpx2.post(f"{mcp_server.base_url}/mcp", json=INITIALIZE, headers=headers)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["error_description"].startswith("The X-Todo-Timezone header is not a time zone: ")
    assert "Europe/Paris" in body["error_description"], "it says what a zone looks like"


def test_two_time_zones_are_refused(mcp_server: ServerThread, user_id: str) -> None:
    headers = [
        ("Accept", "application/json, text/event-stream"),
        ("Content-Type", "application/json"),
        ("Authorization", f"Bearer {TOKEN}"),
        ("X-Todo-User", user_id),
        ("X-Todo-Timezone", "UTC"),
        ("X-Todo-Timezone", KIRITIMATI),
    ]
    response = httpx2.post(f"{mcp_server.base_url}/mcp", json=INITIALIZE, headers=headers)
    assert response.status_code == 400
    assert "one X-Todo-Timezone header" in response.json()["error_description"]


def test_a_browser_based_client_may_send_its_time_zone(mcp_url: str) -> None:
    """The Inspector's direct mode (an allowed origin) sends the zone only if the CORS preflight lets it."""
    preflight = httpx2.options(
        mcp_url,
        headers={
            "Origin": "http://localhost:6274",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, x-todo-timezone",
        },
    )
    assert preflight.status_code == 200
    assert "x-todo-timezone" in preflight.headers["access-control-allow-headers"].lower()
