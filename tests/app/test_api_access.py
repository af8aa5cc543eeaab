"""API access in a real browser: make a personal token on the page, use it from the Python client (the
notebook's way), revoke it on the page, and see the client refused."""

import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from app.client import McpConnection, TodoClient, TokenRefused
from tests.app.support.browser import Pages, StreamlitApp, ready, streamlit_app
from tests.support import TOKEN

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def token_user() -> str:
    return f"tokens-{uuid.uuid4().hex[:10]}@example.com"


@pytest.fixture(scope="module")
def token_app(mcp_url: str, token_user: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitApp]:
    log = tmp_path_factory.mktemp("streamlit") / "tokens.log"
    with streamlit_app(log, MCP_URL=mcp_url, MCP_AUTH_TOKEN=TOKEN, AUTH_MODE="none", DEFAULT_USER=token_user) as app:
        yield app


def test_a_token_made_on_the_page_works_until_it_is_revoked_there(
    pages: Pages, token_app: StreamlitApp, mcp_url: str, token_user: str
) -> None:
    page = ready(pages.open(token_app.url))
    page.get_by_role("button", name="API access").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Token name").fill("notebook")
    dialog.get_by_role("button", name="Create token").click()
    expect(dialog.get_by_text("Copy the token now")).to_be_visible()
    shown = dialog.get_by_test_id("stCode").first.inner_text()
    token = re.search(r"todo_pat_[A-Za-z0-9_-]{43}", shown)
    assert token is not None, shown
    expect(dialog.get_by_text("notebook", exact=False).last).to_be_visible()

    notebook = TodoClient.open(mcp_url, token=token.group())
    task = notebook.add_task("made from a notebook")
    with McpConnection(mcp_url, TOKEN) as service:
        page_view = TodoClient(service, acting_for=token_user)
        assert [t.title for t in page_view.list_tasks().tasks] == [task.title]  # the page's user, the same tasks
        assert [t.name for t in page_view.list_access_tokens()] == ["notebook"]

    dialog.get_by_role("button", name="Revoke").click()
    expect(dialog.get_by_text("No tokens yet.")).to_be_visible()
    with pytest.raises(TokenRefused, match="wrong, revoked or expired"):
        notebook.list_tasks()
    notebook.connection.close()
    token_app.assert_clean_log()
    assert not pages.problems, pages.problems
