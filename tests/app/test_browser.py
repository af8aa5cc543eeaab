"""The product in a real browser: `streamlit run app/main.py` as the product launches it, driven by Debian's
chromium through Playwright, against the real MCP server (real HTTP) and Postgres from tests/conftest.py.

Three Streamlit processes, one per configuration:
- `model_app`: a language model configured (FakeOpenAI, a local OpenAI-compatible server, streaming), AUTH_MODE
  none with a fresh DEFAULT_USER;
- `header_app`: AUTH_MODE=header (X-Forwarded-Email), the offline assistant; two browser contexts with different
  headers are two users;
- `demo_app`: the README screenshot (artifacts/screenshot.png): a few scripted model turns for alex@example.com.

The task table is an st.dataframe, drawn on a canvas by glide-data-grid. Its cells are not DOM text, but glide keeps
an accessible <table role="grid" aria-rowcount=...> inside the <canvas> (screen-reader fallback content) with one
<td role="gridcell"> per *rendered* cell, so the tests read the rows from there (fine for the few rows used here: it
holds only the cells in view) and cross-check the same tasks through the MCP server.
"""

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from devtools.fake_model import Call, FakeOpenAI, Text, ToolCalls
from tests.app.support.browser import (
    ARTIFACTS,
    HEADER,
    VIEWPORT,
    Pages,
    StreamlitApp,
    assistant_messages,
    chat_input,
    conversation_id,
    expect_nowhere,
    expect_task_rows,
    header_cells,
    messages,
    ready,
    say,
    server_tasks,
    settled,
    streamlit_app,
    user_messages,
)
from tests.support import TOKEN

pytestmark = pytest.mark.browser


# --------------------------------------------------------------------------------------------------
# Fixtures


ADD_Q3_REPORT = Call("add_task", {"title": "send Q3 report", "priority": "high"})
Q3_REPLY = "Added task 1: send Q3 report."


def q3_model(body: dict[str, Any]) -> ToolCalls | Text:
    """Test 1's model: calls add_task for the user's message, then, given the tool's result, streams the reply."""
    if body["messages"][-1]["role"] == "tool":
        return Text(Q3_REPLY, chunk_size=4)
    return ToolCalls([ADD_Q3_REPORT])


@pytest.fixture(scope="module")
def model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(default=q3_model) as fake:
        yield fake


@pytest.fixture(scope="module")
def model_user() -> str:
    return f"model-{uuid.uuid4().hex[:10]}@example.com"


@pytest.fixture(scope="module")
def model_app(
    mcp_url: str, model: FakeOpenAI, model_user: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StreamlitApp]:
    log = tmp_path_factory.mktemp("streamlit") / "model.log"
    with streamlit_app(
        log,
        MCP_URL=mcp_url,
        MCP_AUTH_TOKEN=TOKEN,
        AUTH_MODE="none",
        DEFAULT_USER=model_user,
        OPENAI_API_KEY="test",
        OPENAI_BASE_URL=model.base_url,
    ) as app:
        yield app


@pytest.fixture(scope="module")
def header_app(mcp_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitApp]:
    log = tmp_path_factory.mktemp("streamlit") / "header.log"
    with streamlit_app(log, MCP_URL=mcp_url, MCP_AUTH_TOKEN=TOKEN, AUTH_MODE="header", AUTH_HEADER=HEADER) as app:
        yield app


@pytest.fixture(scope="module")
def demo_model() -> Iterator[FakeOpenAI]:
    """The screenshot's model: every reply is scripted by the test; an unscripted request gets a visible marker."""
    with FakeOpenAI(default=Text("(unscripted model reply)")) as fake:
        yield fake


@pytest.fixture(scope="module")
def demo_app(mcp_url: str, demo_model: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitApp]:
    log = tmp_path_factory.mktemp("streamlit") / "demo.log"
    with streamlit_app(
        log,
        MCP_URL=mcp_url,
        MCP_AUTH_TOKEN=TOKEN,
        AUTH_MODE="none",
        DEFAULT_USER="alex@example.com",  # the session's database is fresh: nobody else uses this user
        OPENAI_API_KEY="test",
        OPENAI_BASE_URL=demo_model.base_url,
    ) as app:
        yield app


# --------------------------------------------------------------------------------------------------
# Tests


def test_a_model_turn_streams_the_reply_shows_the_tool_step_and_survives_a_reload(
    pages: Pages, model_app: StreamlitApp, model: FakeOpenAI, model_user: str, mcp_url: str
) -> None:
    page = ready(pages.open(model_app.url))
    expect(page.get_by_test_id("stSidebar")).to_contain_text(f"Signed in as {model_user}")
    expect(page.get_by_test_id("stSidebar")).to_contain_text("Model: gpt-4o-mini")
    expect(page.get_by_text("What do you need to get done?")).to_be_visible()
    sent = len(model.requests)

    reply = say(page, "add 'send Q3 report', high priority")

    expect(reply).to_contain_text(Q3_REPLY)
    # One box per tool step: drawn spinning while the step runs, then labelled with what changed, ticked.
    expect(reply.get_by_test_id("stExpander")).to_have_count(1)
    expect(reply.get_by_test_id("stExpander")).to_contain_text("Added task 1: send Q3 report")
    expect(reply.get_by_test_id("stExpanderIconCheck")).to_have_count(1)
    expect(reply.get_by_test_id("stExpanderIconSpinner")).to_have_count(0)
    requests = model.requests[sent:]
    assert [r["messages"][-1]["role"] for r in requests] == ["user", "tool"], "one tool round, then the answer"
    assert all(r.get("stream") is True for r in requests), "the page asks for a streamed answer"
    assert '"title":"send Q3 report"' in requests[1]["messages"][-1]["content"]

    # The table: one row, read from the grid's accessible cells; the same task is on the server.
    assert expect_task_rows(page, 1)[0][:4] == ["1", "false", "send Q3 report", "high"]
    assert header_cells(page) == ["#", "✓", "Title", "Priority", "Due", "Tags"]
    assert server_tasks(mcp_url, model_user) == [(1, "send Q3 report", "high")]

    # The conversation is in the URL; reopening that link shows the history, tool step included.
    expect(page).to_have_url(re.compile(r"\?c=[0-9a-f-]{36}$"))
    link = page.url
    page.goto("about:blank")
    page.goto(link)
    ready(page)
    expect(user_messages(page)).to_have_count(1)
    expect(user_messages(page).first).to_contain_text("add 'send Q3 report', high priority")
    expect(assistant_messages(page).first).to_contain_text(Q3_REPLY)
    expect(assistant_messages(page).first.get_by_test_id("stExpander")).to_contain_text("Added task 1: send Q3 report")
    expect(page.get_by_test_id("stSidebar").get_by_role("button", name="Send Q3 report")).to_be_visible()
    assert expect_task_rows(page, 1)[0][:4] == ["1", "false", "send Q3 report", "high"]

    assert not pages.problems, pages.problems
    model_app.assert_clean_log()


def test_two_signed_in_users_never_see_each_others_tasks_or_conversations(
    pages: Pages, header_app: StreamlitApp, mcp_url: str
) -> None:
    alice, bob = (f"{name}-{uuid.uuid4().hex[:8]}@example.com" for name in ("alice", "bob"))

    a = ready(pages.open(header_app.url, {HEADER: alice}))
    expect(a.get_by_test_id("stSidebar")).to_contain_text(f"Signed in as {alice}")
    expect(a.get_by_test_id("stSidebar")).to_contain_text("Offline assistant")
    expect(say(a, "add buy milk")).to_contain_text("Added task 1: buy milk")
    assert expect_task_rows(a, 1)[0][:3] == ["1", "false", "buy milk"]
    alices_conversation = conversation_id(a)

    b = ready(pages.open(header_app.url, {HEADER: bob}))
    expect(b.get_by_test_id("stSidebar")).to_contain_text(f"Signed in as {bob}")
    expect(b.get_by_text("No conversations yet.")).to_be_visible()
    expect(b.get_by_text("No open tasks. Add one in the chat.")).to_be_visible()
    expect_nowhere(b, "buy milk")
    expect(say(b, "add call the plumber")).to_contain_text("Added task 1: call the plumber")  # numbers are per user
    assert [row[:3] for row in expect_task_rows(b, 1)] == [["1", "false", "call the plumber"]]
    expect_nowhere(b, "buy milk")

    a.reload()
    ready(a)
    assert [row[:3] for row in expect_task_rows(a, 1)] == [["1", "false", "buy milk"]]
    expect(assistant_messages(a).first).to_contain_text("Added task 1: buy milk")
    expect_nowhere(a, "plumber")

    # Bob opens Alice's conversation link: not found, nothing of hers shown, and the link is dropped.
    b.goto(f"{header_app.url}/?c={alices_conversation}")
    ready(b)
    expect(b.get_by_test_id("stAlert").filter(has_text="Conversation not found")).to_be_visible()
    expect(user_messages(b)).to_have_count(0)
    expect_nowhere(b, "buy milk")
    expect(b).not_to_have_url(re.compile(alices_conversation))

    assert server_tasks(mcp_url, alice) == [(1, "buy milk", "medium")]
    assert server_tasks(mcp_url, bob) == [(1, "call the plumber", "medium")]

    # No header, no user: the sign-in message and nothing else.
    anonymous = pages.open(header_app.url)
    expect(anonymous.get_by_test_id("stAlert").filter(has_text="Not signed in")).to_be_visible()
    expect(anonymous.get_by_test_id("stAlert")).to_contain_text(HEADER)
    settled(anonymous)
    expect(chat_input(anonymous)).to_have_count(0)
    expect(anonymous.get_by_test_id("stSidebar")).to_have_count(0)

    assert not pages.problems, pages.problems
    header_app.assert_clean_log()


def test_history_shows_each_offline_turn_with_its_own_step(pages: Pages, header_app: StreamlitApp) -> None:
    page = ready(pages.open(header_app.url, {HEADER: f"history-{uuid.uuid4().hex[:8]}@example.com"}))
    say(page, "add buy bread")
    say(page, "add walk the dog")
    page.reload()
    ready(page)
    expect(assistant_messages(page)).to_have_count(2)
    expect(assistant_messages(page).last.get_by_test_id("stExpander")).to_contain_text("Added task 2: walk the dog")
    expect(assistant_messages(page).first.get_by_test_id("stExpander")).to_contain_text("Added task 1: buy bread")


def on_or_after(day: dt.date, weekday: int) -> dt.date:
    return day + dt.timedelta(days=(weekday - day.weekday()) % 7)


def test_screenshot_of_a_few_turns_for_the_readme(pages: Pages, demo_app: StreamlitApp, demo_model: FakeOpenAI) -> None:
    """A realistic session (scripted model, real page, real tools) saved as artifacts/screenshot.png."""
    today = dt.date.today()
    friday = on_or_after(today, 4)
    monday = on_or_after(today + dt.timedelta(days=1), 0)
    flights = today + dt.timedelta(days=16)

    def when(day: dt.date) -> str:
        return f"{day:%a} {day:%b} {day.day}"

    def turn(page: Page, text: str, call: Call, reply: str) -> Locator:
        demo_model.script(ToolCalls([call]), Text(reply))
        answer = say(page, text)
        expect(answer).to_contain_text(reply.split("\n")[0].replace("**", ""))
        return answer

    page = ready(pages.open(demo_app.url))
    turn(
        page,
        f"Book flights to Lisbon by {when(flights)}, low priority",
        Call("add_task", {"title": "book flights to Lisbon", "priority": "low", "due_date": flights.isoformat()}),
        f"Added task 1: **book flights to Lisbon** (low priority, due {when(flights)}).",
    )
    page.get_by_role("button", name="New conversation").click()
    expect(messages(page)).to_have_count(0)  # (the example heading is on screen before the click too)
    expect(page.get_by_text("What do you need to get done?")).to_be_visible()
    ready(page)

    turn(
        page,
        "Add 'send Q3 report' for Friday, high priority #work",
        Call(
            "add_task",
            {"title": "send Q3 report", "priority": "high", "due_date": friday.isoformat(), "tags": ["work"]},
        ),
        f"Added task 2: **send Q3 report** (high priority, due {when(friday)}, #work).",
    )
    turn(
        page,
        "Remind me to call the dentist on Monday",
        Call("add_task", {"title": "call the dentist", "due_date": monday.isoformat()}),
        f"Added task 3: **call the dentist**, due {when(monday)}.",
    )
    open_tasks = [
        (friday, f"1. **send Q3 report** (task 2), high, due {when(friday)}"),
        (monday, f"1. **call the dentist** (task 3), due {when(monday)}"),
        (flights, f"1. **book flights to Lisbon** (task 1), low, due {when(flights)}"),
    ]
    turn(
        page,
        "What's open?",
        Call("list_tasks", {"status": "open", "sort": "due"}),
        "You have 3 open tasks, soonest first:\n\n" + "\n".join(line for _, line in sorted(open_tasks)),
    )
    assert demo_model.pending == 0
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("button", name="Book flights to Lisbon")).to_be_visible()
    expect(sidebar.get_by_role("button", name="Send Q3 report")).to_be_visible()
    rows = expect_task_rows(page, 3)
    assert [row[2:4] for row in rows] == [
        ["book flights to Lisbon", "low"],
        ["send Q3 report", "high"],
        ["call the dentist", "medium"],
    ]

    # The picture: the conversation reopened from its link, as a user coming back to it sees it.
    page.reload()
    ready(page)
    expect(user_messages(page)).to_have_count(3)
    expect_task_rows(page, 3)
    ARTIFACTS.mkdir(exist_ok=True)
    full_page_screenshot(page, ARTIFACTS / "screenshot.png")
    to_tasks, heading = page.get_by_role("link", name="Your tasks"), page.get_by_role("heading", name="Your tasks")
    expect(to_tasks).to_be_hidden()  # a wide screen has the panel beside the chat

    # At a phone's width the panel is under the chat, and one tap away from the top of the page.
    page.set_viewport_size({"width": 420, "height": 800})
    expect(sidebar).not_to_be_in_viewport()  # Streamlit closes it at this width
    # Reading from the conversation's start, once the narrow layout has settled (the page reflows after the resize,
    # which can move the scroll): the panel's heading is below the fold there, the link to it in view.
    page.wait_for_function(
        """() => {
            const main = document.querySelector("main.stMain");
            main.scrollTo(0, 0);
            const heading = [...main.querySelectorAll("h3")].find((h) => h.textContent.trim() === "Your tasks");
            return heading !== undefined && main.scrollTop === 0 && heading.getBoundingClientRect().top >= innerHeight;
        }""",
        polling=100,
    )
    expect(to_tasks).to_be_in_viewport()
    expect(heading).not_to_be_in_viewport()
    page.screenshot(path=str(ARTIFACTS / "screenshot-narrow.png"), animations="disabled")
    to_tasks.click()
    expect(heading).to_be_in_viewport()
    expect(chat_input(page)).to_be_in_viewport()
    page.screenshot(path=str(ARTIFACTS / "screenshot-narrow-tasks.png"), animations="disabled")

    assert not pages.problems, pages.problems
    demo_app.assert_clean_log()


def full_page_screenshot(page: Page, path: Path) -> None:
    """Streamlit scrolls its main area inside a fixed-height app, so Playwright's full_page alone stops at the
    viewport: the viewport grows (width kept) to the main area's full height for the picture."""
    main = page.locator("main.stMain")  # data-testid="stAppScrollToBottomContainer"
    extra = main.evaluate("e => e.scrollHeight - e.clientHeight")
    if extra > 0:
        page.set_viewport_size({"width": VIEWPORT["width"], "height": VIEWPORT["height"] + extra})
        settled(page)
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    page.set_viewport_size(VIEWPORT)
