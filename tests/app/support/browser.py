"""The page in a real browser: `streamlit run app/main.py` as the product launches it (Streamlit processes with
given settings), Debian's chromium through Playwright, and the helpers that read and drive the page."""

import contextlib
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from app.client import McpConnection, TodoClient
from devtools.servers import free_port
from tests.support import TOKEN

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "artifacts"
VIEWPORT = {"width": 1400, "height": 900}
TIMEOUT_MS = 15_000
HEADER = "X-Forwarded-Email"
# Settings the page reads from the environment: the tests set each one they need, so a developer's shell
# (say, a real OPENAI_API_KEY) cannot change what is tested.
PAGE_SETTINGS = (
    "MCP_URL",
    "MCP_AUTH_TOKEN",
    "MCP_TIMEOUT",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_MODEL",
    "MODEL_TIMEOUT",
    "MODEL_RETRIES",
    "SYSTEM_PROMPT",
    "TEMPERATURE",
    "MAX_TOOL_STEPS",
    "HISTORY_MESSAGES",
    "AUTH_MODE",
    "AUTH_HEADER",
    "DEFAULT_USER",
)
expect.set_options(timeout=TIMEOUT_MS)


# --------------------------------------------------------------------------------------------------
# The Streamlit process


@dataclass
class StreamlitApp:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def assert_clean_log(self) -> None:
        """Nothing the page printed is a traceback or an error (Streamlit logs script exceptions there)."""
        bad = [line for line in self.output().splitlines() if re.search(r"Traceback|\bERROR\b|Exception", line)]
        assert not bad, "the Streamlit process logged errors:\n" + self.output()[-4000:]


def wait_healthy(app: StreamlitApp, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.process.poll() is not None:
            pytest.fail(f"streamlit exited with status {app.process.returncode}:\n{app.output()[-4000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{app.url}/_stcore/health", timeout=2) as answer:
            if answer.status == 200 and answer.read().strip() == b"ok":
                return
        time.sleep(0.1)
    pytest.fail(f"streamlit did not answer /_stcore/health within {timeout:.0f} s:\n{app.output()[-4000:]}")


@contextlib.contextmanager
def streamlit_app(log: Path, port: int | None = None, **settings: str) -> Iterator[StreamlitApp]:
    """`python -m app` (streamlit run app/main.py) as `make run` and the image start it, with exactly these
    settings."""
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if k not in PAGE_SETTINGS and not k.startswith("OIDC_")}
    env.update(settings)
    env.setdefault("LOG_LEVEL", "WARNING")
    command = [sys.executable, "-m", "app", "--server.headless", "true"]
    command += ["--server.port", str(port), "--browser.gatherUsageStats", "false"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    app = StreamlitApp(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_healthy(app)
        yield app
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Pages:
    """Opens browser contexts (one per user); remembers every console error and uncaught page error."""

    browser: Browser
    contexts: list[BrowserContext] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def open(self, url: str, headers: dict[str, str] | None = None) -> Page:
        context = self.browser.new_context(viewport=VIEWPORT, extra_http_headers=headers)  # type: ignore[arg-type]
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console error: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.goto(url)
        return page


# --------------------------------------------------------------------------------------------------
# Reading and driving the page


def chat_input(page: Page) -> Locator:
    return page.get_by_test_id("stChatInputTextArea")


def settled(page: Page) -> None:
    """The script run is over (Streamlit marks the app root with its state)."""
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")


def ready(page: Page) -> Page:
    expect(chat_input(page)).to_be_visible()
    settled(page)
    return page


def messages(page: Page) -> Locator:
    return page.get_by_test_id("stChatMessage")


def user_messages(page: Page) -> Locator:
    return messages(page).filter(has=page.get_by_test_id("stChatMessageAvatarUser"))


def assistant_messages(page: Page) -> Locator:
    return messages(page).filter(has=page.get_by_test_id("stChatMessageAvatarAssistant"))


def say(page: Page, text: str) -> Locator:
    """Send one chat message and wait for the whole turn; returns the turn's assistant message."""
    box = chat_input(page)
    box.fill(text)
    box.press("Enter")
    # This run drew the user's message and the reply's bubble after it. (Not a count of bubbles: the page draws a
    # window of the most recent messages, so a long conversation's count stays the same.)
    expect(messages(page).nth(-2)).to_contain_text(text)
    expect(messages(page).nth(-2).get_by_test_id("stChatMessageAvatarUser")).to_have_count(1)
    expect(messages(page).last.get_by_test_id("stChatMessageAvatarAssistant")).to_have_count(1)
    settled(page)
    expect(user_messages(page).last).to_contain_text(text)
    return assistant_messages(page).last


def conversation_id(page: Page) -> str:
    [value] = parse_qs(urlparse(page.url).query)["c"]
    return str(uuid.UUID(value))


def grid(page: Page) -> Locator:
    """The task table's accessible grid (glide-data-grid's fallback <table> inside the canvas)."""
    return page.get_by_test_id("stDataFrame").locator('table[role="grid"]')


def expect_task_rows(page: Page, count: int) -> list[list[str]]:
    """Waits until the table has `count` task rows (aria-rowcount counts the header row too); returns the cells."""
    expect(grid(page)).to_have_attribute("aria-rowcount", str(count + 1))
    rows: list[list[str]] = (
        grid(page)
        .locator("tbody tr")
        .evaluate_all("rows => rows.map(row => Array.from(row.cells, cell => cell.textContent.trim()))")
    )
    assert len(rows) == count, rows
    return rows


def header_cells(page: Page) -> list[str]:
    return grid(page).locator("thead th").all_text_contents()


def server_tasks(mcp_url: str, user: str) -> list[tuple[int, str, str]]:
    """(number, title, priority) of the user's open tasks, read through the MCP server (with the page's service
    token, acting for the user), not the page."""
    client = TodoClient(McpConnection(mcp_url, TOKEN), acting_for=user)
    try:
        return [(t.id, t.title, t.priority) for t in client.list_tasks(status="open").tasks]
    finally:
        client.connection.close()


def expect_nowhere(page: Page, text: str) -> None:
    """`text` is in no element of the page: not in the chat, the sidebar, nor the table's grid cells."""
    expect(page.locator("body")).not_to_contain_text(text)
