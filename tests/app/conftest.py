"""Fixtures of the page's tests: the page's client for this test's user, `python -m mcp_server` processes and
connections to them (fault injection, with the count of injected faults written at the end of the session), and
a headless chromium with its pages."""

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from app.client import McpConnection, TodoClient
from app.settings import get_settings
from devtools.browser import CHROMIUM, launch_chromium
from tests.app.support.browser import Pages
from tests.app.support.faults import FAULT_COUNTS, ROOT, McpProcess
from tests.support import TOKEN


@pytest.fixture
def todo(connection: McpConnection, user_id: str) -> TodoClient:
    """The page's view: the service token, acting for this test's user."""
    return TodoClient(connection, acting_for=user_id)


@pytest.fixture
def page_env(monkeypatch: pytest.MonkeyPatch, mcp_url: str, user_id: str) -> Iterator[str]:
    """Settings for the page: offline assistant, demo identity `user_id`."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MCP_URL", mcp_url)
    monkeypatch.setenv("MCP_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("AUTH_MODE", "none")
    monkeypatch.setenv("DEFAULT_USER", user_id)
    get_settings.cache_clear()
    yield user_id
    get_settings.cache_clear()


COUNTS_FILE = ROOT / "artifacts" / "fault-counts.json"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not FAULT_COUNTS:
        return  # no fault test ran: leave the last run's counts alone
    COUNTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    counts = dict(sorted(FAULT_COUNTS.items()))
    report = {"total": sum(counts.values()), "by_category": counts}
    Path(COUNTS_FILE).write_text(json.dumps(report, indent=2) + "\n")


@pytest.fixture
def mcp_process(database_url: str) -> Iterator[Callable[..., McpProcess]]:
    """Start `python -m mcp_server` processes on the session database; all are stopped at the end."""
    started: list[McpProcess] = []

    def launch(*, wait: bool = True, database: str | None = None, **env: str) -> McpProcess:
        process = McpProcess(database or database_url, **env)
        started.append(process)
        return process.start() if wait else process.launch()

    try:
        yield launch
    finally:
        for process in started:
            process.close()


@pytest.fixture
def connection_to() -> Iterator[Callable[..., McpConnection]]:
    """McpConnections (closed at the end). The timeout is generous, as a call answers in milliseconds: a hang still
    fails the test (its fail-fast checks, or the call's timeout), and a busy machine does not; a test of a
    timeout passes its own."""
    opened: list[McpConnection] = []

    def open_connection(url: str, timeout: float = 30) -> McpConnection:
        connection = McpConnection(url, TOKEN, timeout=timeout)
        opened.append(connection)
        return connection

    try:
        yield open_connection
    finally:
        for connection in opened:
            connection.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash tests/setup_system.sh` (installs Debian's chromium) first.")
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def pages(browser: Browser) -> Iterator[Pages]:
    opened = Pages(browser)
    yield opened
    for context in opened.contexts:
        context.close()
