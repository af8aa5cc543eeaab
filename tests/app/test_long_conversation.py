"""A long conversation in a real browser: the page draws only its most recent messages (Show earlier for more),
past tool steps draw their details only when opened, a turn still works at 200 stored messages, and a new
conversation is listed and highlighted while its first turn runs. Timing belongs to `make bench-page`."""

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from app.client import McpConnection, TodoClient
from app.views import EARLIER, SHOWN
from devtools.fake_model import Call, FakeOpenAI, Gate, Text, ToolCalls
from devtools.history import seed_conversation
from tests.app.support.browser import (
    Pages,
    StreamlitApp,
    assistant_messages,
    chat_input,
    messages,
    ready,
    say,
    settled,
    streamlit_app,
)
from tests.support import TOKEN

pytestmark = pytest.mark.browser
TURNS = 50  # 4 stored messages each: the user's, the tool call, its result, the reply


@pytest.fixture(scope="module")
def long_user() -> str:
    return f"long-{uuid.uuid4().hex[:10]}@example.com"


@pytest.fixture(scope="module")
def long_app(mcp_url: str, long_user: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitApp]:
    log = tmp_path_factory.mktemp("streamlit") / "long.log"
    settings = {"MCP_URL": mcp_url, "MCP_AUTH_TOKEN": TOKEN, "AUTH_MODE": "none", "DEFAULT_USER": long_user}
    with streamlit_app(log, **settings) as app:
        yield app


@pytest.fixture(scope="module")
def long_conversation(mcp_url: str, long_user: str) -> uuid.UUID:
    with McpConnection(mcp_url, TOKEN) as connection:
        return seed_conversation(TodoClient(connection, acting_for=long_user), "a long one", TURNS)


def user_message_texts(page: Page, count: int) -> list[str]:
    """The user messages' texts, once `count` of them are drawn (the page draws them after the Show earlier
    button, so the button alone does not say the window is complete)."""
    users = messages(page).filter(has=page.get_by_test_id("stChatMessageAvatarUser"))
    expect(users).to_have_count(count)
    return [text.strip() for text in users.get_by_test_id("stChatMessageContent").all_inner_texts()]


def test_only_the_recent_messages_are_drawn_and_earlier_ones_on_request(
    pages: Pages, long_app: StreamlitApp, long_conversation: uuid.UUID
) -> None:
    page = ready(pages.open(f"{long_app.url}/?c={long_conversation}"))
    stored = TURNS * 4
    earlier = page.get_by_role("button", name=f"Show earlier messages ({stored - SHOWN} more)")
    expect(earlier).to_be_visible()
    shown = SHOWN // 4  # whole turns: each is 4 stored messages
    assert user_message_texts(page, shown) == [f"add errand {n}" for n in range(TURNS - shown + 1, TURNS + 1)]

    earlier.click()
    settled(page)
    expect(page.get_by_role("button", name=f"Show earlier messages ({stored - SHOWN - EARLIER} more)")).to_be_visible()
    more = (SHOWN + EARLIER) // 4
    assert user_message_texts(page, more) == [f"add errand {n}" for n in range(TURNS - more + 1, TURNS + 1)]
    long_app.assert_clean_log()


def test_a_past_step_draws_its_details_only_when_opened(
    pages: Pages, long_app: StreamlitApp, long_conversation: uuid.UUID
) -> None:
    page = ready(pages.open(f"{long_app.url}/?c={long_conversation}"))
    step = page.get_by_test_id("stExpander").filter(has_text=f"Added task {TURNS}: errand {TURNS}")
    expect(step).to_have_count(1)
    expect(page.get_by_test_id("stJson")).to_have_count(0)  # no step's result is drawn while all are closed
    step.get_by_text(f"Added task {TURNS}: errand {TURNS}").click()
    expect(step.get_by_test_id("stJson")).to_have_count(1)
    expect(step).to_contain_text(f"add_task(title='errand {TURNS}')")
    expect(page.get_by_test_id("stJson")).to_have_count(1)  # only the opened one


def test_a_turn_at_200_stored_messages_answers_and_keeps_the_window(
    pages: Pages, long_app: StreamlitApp, long_conversation: uuid.UUID
) -> None:
    page = ready(pages.open(f"{long_app.url}/?c={long_conversation}"))
    reply = say(page, "add a long-conversation check")
    expect(reply).to_contain_text("long-conversation check")
    page.reload()
    ready(page)
    texts = user_message_texts(page, SHOWN // 4)  # still a window of whole turns, not the whole history
    assert texts[-1] == "add a long-conversation check"
    expect(page.get_by_role("button", name=f"Show earlier messages ({TURNS * 4 + 4 - SHOWN} more)")).to_be_visible()


@pytest.fixture(scope="module")
def gated_model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(default=Text("(unscripted)")) as fake:
        yield fake


def test_a_new_conversation_is_listed_and_highlighted_while_its_first_turn_runs(
    pages: Pages, mcp_url: str, gated_model: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> None:
    user = f"first-{uuid.uuid4().hex[:10]}@example.com"
    log = tmp_path_factory.mktemp("streamlit") / "first.log"
    settings = {
        "MCP_URL": mcp_url,
        "MCP_AUTH_TOKEN": TOKEN,
        "AUTH_MODE": "none",
        "DEFAULT_USER": user,
        "OPENAI_API_KEY": "test",
        "OPENAI_BASE_URL": gated_model.base_url,
    }
    gate = Gate(ToolCalls([Call("add_task", {"title": "send Q3 report", "priority": "high"})]))
    gated_model.script(gate, Text("Added task 1: send Q3 report."))
    with streamlit_app(log, **settings) as app:
        page = ready(pages.open(app.url))
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar).to_contain_text("No conversations yet.")
        box = chat_input(page)
        box.fill("add 'send Q3 report' for Friday, high priority")
        box.press("Enter")
        try:
            gate.wait_reached()  # the turn has started: the model is thinking
            listed = sidebar.get_by_test_id("stBaseButton-primary")
            expect(listed).to_have_count(1)
            expect(listed).to_have_text("Send Q3 report")  # the short title, not the message verbatim
        finally:
            gate.open()
        expect(assistant_messages(page).last).to_contain_text("Added task 1: send Q3 report.")
        settled(page)
        expect(sidebar.get_by_test_id("stBaseButton-primary")).to_have_count(1)
