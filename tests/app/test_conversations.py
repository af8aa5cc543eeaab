"""Conversations managed from the sidebar, in a real browser: rename, delete after a confirmation, search by their
text, export as Markdown and JSON; and at a phone's 420 px the rows stay on one line and the sidebar closes once a
conversation is picked. Everything is read back through the MCP server."""

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from app.client import McpConnection, TodoClient
from tests.app.support.browser import ARTIFACTS, Pages, StreamlitApp, ready, say, settled, streamlit_app
from tests.support import TOKEN

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def user() -> str:
    return f"convs-{uuid.uuid4().hex[:10]}@example.com"


@pytest.fixture(scope="module")
def app(mcp_url: str, user: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitApp]:
    log = tmp_path_factory.mktemp("streamlit") / "conversations.log"
    settings = {"MCP_URL": mcp_url, "MCP_AUTH_TOKEN": TOKEN, "AUTH_MODE": "none", "DEFAULT_USER": user}
    with streamlit_app(log, **settings) as started:
        yield started


@pytest.fixture
def todo(mcp_url: str, user: str) -> Iterator[TodoClient]:
    with McpConnection(mcp_url, TOKEN) as connection:
        client = TodoClient(connection, acting_for=user)
        for conversation in client.list_conversations(limit=200).conversations:
            client.delete_conversation(conversation.conversation_id)
        yield client


def sidebar(page: Page) -> Locator:
    return page.get_by_test_id("stSidebar")


def menu_of(page: Page, title: str) -> Locator:
    """The ⋮ menu on the row of the conversation titled `title`."""
    row = (
        sidebar(page).get_by_test_id("stHorizontalBlock").filter(has=page.get_by_role("button", name=title, exact=True))
    )
    return row.get_by_test_id("stPopover")


def row_boxes(page: Page, title: str) -> tuple[dict[str, float], dict[str, float]]:
    """The boxes of a conversation's button and of its menu, measured in one frame (the sidebar may still be
    moving as it opens, so two separate measurements could see two layouts)."""
    row = menu_of(page, title).locator("xpath=ancestor::*[@data-testid='stHorizontalBlock'][1]")
    return row.evaluate(
        """(row, title) => {
            const box = (element) => {
                const { x, y, width, height } = element.getBoundingClientRect();
                return { x, y, width, height };
            };
            const pick = [...row.querySelectorAll("button")].find((b) => b.innerText.trim() === title);
            return [box(pick), box(row.querySelector("[data-testid='stPopover']"))];
        }""",
        title,
    )


def open_menu(page: Page, title: str) -> Locator:
    menu_of(page, title).get_by_role("button").click()
    body = page.get_by_test_id("stPopoverBody")
    expect(body).to_be_visible()
    return body


def titles(todo: TodoClient) -> list[str]:
    return [c.title for c in todo.list_conversations(limit=200).conversations]


def test_rename_a_conversation(pages: Pages, app: StreamlitApp, todo: TodoClient) -> None:
    page = ready(pages.open(app.url))
    say(page, "add buy oat milk")
    [title] = titles(todo)
    body = open_menu(page, title)
    name = body.get_by_label("Name")
    name.fill("Groceries")
    body.get_by_role("button", name="Rename").click()
    expect(sidebar(page).get_by_role("button", name="Groceries")).to_be_visible()
    assert titles(todo) == ["Groceries"]


def test_delete_asks_first_and_cancel_keeps_it(pages: Pages, app: StreamlitApp, todo: TodoClient) -> None:
    page = ready(pages.open(app.url))
    say(page, "add call the plumber")
    [title] = titles(todo)
    open_menu(page, title).get_by_role("button", name="Delete…").click()
    dialog = page.get_by_role("dialog", name="Delete this conversation?")
    expect(dialog).to_contain_text("This cannot be undone.")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    assert titles(todo) == [title], "cancel keeps it"
    open_menu(page, title).get_by_role("button", name="Delete…").click()
    page.get_by_role("dialog", name="Delete this conversation?").get_by_role("button", name="Delete").click()
    expect(sidebar(page)).to_contain_text("No conversations yet.")
    assert titles(todo) == []
    expect(page.get_by_text("What do you need to get done?")).to_be_visible()  # the open one was deleted


def test_search_finds_conversations_by_their_text(pages: Pages, app: StreamlitApp, todo: TodoClient) -> None:
    page = ready(pages.open(app.url))
    say(page, "add renew the passport")
    sidebar(page).get_by_role("button", name="New conversation").click()
    ready(page)
    say(page, "add water the ficus")
    box = sidebar(page).get_by_placeholder("Search conversations")
    box.fill("passp")
    box.press("Enter")
    settled(page)
    buttons = sidebar(page).get_by_test_id("stHorizontalBlock").get_by_role("button").filter(has_not_text="more_vert")
    expect(sidebar(page).get_by_role("button", name="Renew the passport")).to_be_visible()
    expect(sidebar(page).get_by_role("button", name="Water the ficus")).to_have_count(0)
    assert buttons.count() >= 1
    box.fill("zebra crossing")
    box.press("Enter")
    expect(sidebar(page)).to_contain_text("No conversation mentions “zebra crossing”.")


def test_export_as_markdown_and_json(pages: Pages, app: StreamlitApp, todo: TodoClient) -> None:
    page = ready(pages.open(app.url))
    say(page, "add book the dentist")
    [conversation] = todo.list_conversations().conversations
    body = open_menu(page, conversation.title)
    with page.expect_download() as markdown:
        body.get_by_role("button", name="Markdown").click()
    text = Path(markdown.value.path()).read_text(encoding="utf-8")
    assert text.startswith(f"# {conversation.title}\n")
    assert "**You**" in text and "add book the dentist" in text and "_Added task" in text
    with page.expect_download() as exported:
        body.get_by_role("button", name="JSON").click()  # the menu stays open after a download
    data = json.loads(Path(exported.value.path()).read_text(encoding="utf-8"))
    assert data["conversation_id"] == str(conversation.conversation_id)
    assert data["messages"][0]["role"] == "user" and data["total_messages"] == len(data["messages"])


def test_at_a_phones_width_rows_stay_on_one_line_and_the_sidebar_closes_after_picking(
    pages: Pages, app: StreamlitApp, todo: TodoClient
) -> None:
    page = ready(pages.open(app.url))
    say(page, "add pay the electricity bill")
    sidebar(page).get_by_role("button", name="New conversation").click()
    ready(page)
    say(page, "add fix the bike")
    page.set_viewport_size({"width": 420, "height": 800})
    page.reload()
    ready(page)
    if not sidebar(page).is_visible():
        page.get_by_test_id("stExpandSidebarButton").click()
    expect(sidebar(page)).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "narrow-sidebar.png"))
    for title in titles(todo):
        pick_box, menu_box = row_boxes(page, title)
        assert abs((pick_box["y"] + pick_box["height"] / 2) - (menu_box["y"] + menu_box["height"] / 2)) < 8, title
        assert menu_box["x"] > pick_box["x"] + pick_box["width"] - 2, f"{title}: the menu is beside its button"
    first = titles(todo)[-1]
    sidebar(page).get_by_role("button", name=first).click()
    expect(sidebar(page)).not_to_be_in_viewport()
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_in_viewport()
    page.screenshot(path=str(ARTIFACTS / "narrow-chat.png"))
