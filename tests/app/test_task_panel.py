"""The task panel: edits made in the table go through the MCP tools (real server, real Postgres); a refused edit
keeps the tool's sentence and changes nothing; in a real browser the panel fits at 1280x720, stays in view while
the chat scrolls, and a task ticked there is done for the chat's next turn."""

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from app.client import McpConnection, TodoClient
from app.task_panel import COLUMNS, WIDTHS, Edit, apply_edit, overdue, rows, tags_from, tasks_by_filter
from tests.app.support.browser import Pages, StreamlitApp, ready, say, streamlit_app
from tests.support import TOKEN

TODAY = dt.date(2026, 12, 2)


def shown(todo: TodoClient) -> list:
    return todo.list_tasks(status="all", limit=200).tasks


def test_ticking_and_unticking_done_completes_and_reopens(todo: TodoClient) -> None:
    task = todo.add_task("water the plants")
    assert apply_edit(todo, shown(todo), Edit({0: {"Done": True}}, [])) == []
    assert todo.list_tasks(status="done").tasks[0].id == task.id
    assert apply_edit(todo, shown(todo), Edit({0: {"Done": False}}, [])) == []
    assert [t.id for t in todo.list_tasks(status="open").tasks] == [task.id]


def test_title_priority_due_and_tags_are_updated(todo: TodoClient) -> None:
    task = todo.add_task("draft", due_date="2026-12-24")
    cells = {"Title": " send the Q4 draft ", "Priority": "high", "Due": "2026-12-11", "Tags": "#Work home"}
    assert apply_edit(todo, shown(todo), Edit({0: cells}, [])) == []
    [after] = shown(todo)
    assert (after.id, after.title, after.priority, after.due_date, after.tags) == (
        task.id,
        "send the Q4 draft",
        "high",
        dt.date(2026, 12, 11),
        ["work", "home"],
    )
    assert apply_edit(todo, shown(todo), Edit({0: {"Due": ""}}, [])) == []
    assert shown(todo)[0].due_date is None, "an emptied Due cell clears the date"


def test_a_due_cell_takes_the_words_people_use(todo: TodoClient) -> None:
    todo.add_task("call mom")
    assert apply_edit(todo, shown(todo), Edit({0: {"Due": "in 3 days"}}, [])) == []
    assert shown(todo)[0].due_date is not None


def test_a_deleted_row_deletes_the_task(todo: TodoClient) -> None:
    keep, gone = todo.add_task("keep me"), todo.add_task("delete me")
    tasks = shown(todo)
    row = next(index for index, task in enumerate(tasks) if task.id == gone.id)
    assert apply_edit(todo, tasks, Edit({}, [row])) == []
    assert [t.id for t in shown(todo)] == [keep.id]


def test_a_refused_edit_says_why_and_changes_nothing(todo: TodoClient) -> None:
    task = todo.add_task("pay rent", due_date="2026-12-24")
    problems = apply_edit(todo, shown(todo), Edit({0: {"Due": "someday"}}, []))
    assert len(problems) == 1 and problems[0].startswith(f"Task {task.id} (pay rent): ")
    assert "someday" not in problems[0] or "date" in problems[0].lower()
    assert "Nothing was changed" in problems[0] or "not a date" in problems[0].lower(), problems
    assert shown(todo)[0].due_date == dt.date(2026, 12, 24)
    problems = apply_edit(todo, shown(todo), Edit({0: {"Title": "   "}}, []))
    assert len(problems) == 1 and "title" in problems[0].lower(), problems
    assert shown(todo)[0].title == "pay rent"


def test_rows_leave_empty_cells_empty_and_overdue_is_found(todo: TodoClient) -> None:
    late = todo.add_task("file taxes", due_date="2026-11-30")
    todo.add_task("someday maybe")
    tasks = shown(todo)
    assert {row["Title"]: row["Due"] for row in rows(tasks)} == {"file taxes": "Mon 30 Nov", "someday maybe": ""}
    assert all(row["Tags"] == "" for row in rows(tasks))
    assert [task.id for task in overdue(tasks, TODAY)] == [late.id]


def test_counts_per_filter_come_from_one_list(todo: TodoClient) -> None:
    first = todo.add_task("one")
    todo.add_task("two")
    todo.complete_task(first.id)
    lists, counts = tasks_by_filter(todo)
    assert counts == {"open": 1, "done": 1, "all": 2}
    assert [t.title for t in lists["open"]] == ["two"] and [t.title for t in lists["done"]] == ["one"]


def test_tags_are_read_as_people_type_them() -> None:
    assert tags_from("#Work, home  #x") == ["work", "home", "x"]
    assert tags_from("") == [] and tags_from(None) == [] and tags_from("# ,") == []


# --- in a real browser ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def panel_user() -> str:
    return f"panel-{uuid.uuid4().hex[:10]}@example.com"


@pytest.fixture(scope="module")
def panel_app(mcp_url: str, panel_user: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitApp]:
    log = tmp_path_factory.mktemp("streamlit") / "panel.log"
    settings = {"MCP_URL": mcp_url, "MCP_AUTH_TOKEN": TOKEN, "AUTH_MODE": "none", "DEFAULT_USER": panel_user}
    with streamlit_app(log, **settings) as app:
        yield app


def open_at_1280(pages: Pages, url: str) -> Page:
    page = pages.open(url)
    page.set_viewport_size({"width": 1280, "height": 720})
    return ready(page)


def table(page: Page) -> Locator:
    return page.get_by_test_id("stDataFrame")


def cell_point(page: Page, row: int, column: str) -> tuple[float, float]:
    """Where to click a cell of the task table: the grid draws on a canvas, so by the columns' configured widths."""
    box = table(page).bounding_box()
    assert box is not None
    header_height = row_height = 35
    left = box["x"] + 32  # the row-selection column
    for name in COLUMNS:
        if name == column:
            return left + WIDTHS[name] / 2, box["y"] + header_height + row_height * row + row_height / 2
        left += WIDTHS[name]
    raise AssertionError(f"no column {column!r}")


def header_texts(page: Page) -> list[str]:
    headers = table(page).locator('table[role="grid"] thead th')
    expect(headers).to_have_count(len(COLUMNS))
    return [text.strip() for text in headers.all_text_contents()]


@pytest.mark.browser
def test_the_panel_fits_and_stays_in_view_at_1280x720(pages: Pages, panel_app: StreamlitApp) -> None:
    page = open_at_1280(pages, panel_app.url)
    for number in range(8):  # a chat longer than the window
        say(page, f"add errand {number}")
    assert header_texts(page) == ["#", "✓", "Title", "Priority", "Due", "Tags"]  # the grid draws only what fits
    frame = table(page).bounding_box()
    assert frame is not None and 32 + sum(WIDTHS.values()) <= frame["width"] + 1, "a column is cut"
    panel, first = page.locator(".st-key-task-panel"), page.get_by_test_id("stChatMessage").first
    at_bottom, first_at_bottom = panel.bounding_box(), first.bounding_box()
    page.mouse.move(500, 400)  # over the chat
    page.mouse.wheel(0, -5000)  # up to the start of the chat
    expect(first).to_be_in_viewport()
    at_top, first_at_top = panel.bounding_box(), first.bounding_box()
    assert at_bottom and at_top and first_at_bottom and first_at_top
    assert first_at_top["y"] - first_at_bottom["y"] > 300, "the chat scrolled"
    for box in (at_bottom, at_top):  # the panel did not: it is in view, near the top, either way
        assert 0 <= box["y"] < 200 and box["y"] + box["height"] <= 720, (at_bottom, at_top)


@pytest.mark.browser
def test_a_task_ticked_in_the_panel_is_done_for_the_next_turn(
    pages: Pages, panel_app: StreamlitApp, mcp_url: str, panel_user: str
) -> None:
    with McpConnection(mcp_url, TOKEN) as connection:
        todo = TodoClient(connection, acting_for=panel_user)
        for task in todo.list_tasks(status="all", limit=200).tasks:
            todo.delete_task(task.id)
        ticked = todo.add_task("tick me in the panel")
        page = open_at_1280(pages, panel_app.url)
        expect(table(page)).to_contain_text("tick me in the panel")
        x, y = cell_point(page, 0, "Done")
        page.mouse.click(x, y)  # selects the cell
        page.keyboard.press("Space")  # ticks it
        expect(page.get_by_text("done · 1")).to_be_visible()  # the panel read the server again
        assert todo.list_tasks(status="done").tasks[0].id == ticked.id
    reply = say(page, "what's open?")
    expect(reply).not_to_contain_text("tick me in the panel")
