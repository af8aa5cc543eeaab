"""Fixtures of the reliability suite, and the counts file written when the session ends."""

import datetime as dt
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from app.client import McpConnection
from tests.reliability.support import COUNTS, Callers
from tests.support import TOKEN

COUNTS_FILE = Path(__file__).resolve().parents[2] / "artifacts" / "reliability-counts.json"


@pytest.fixture(scope="session")
def pg(database_url: str) -> Iterator[psycopg.Connection]:
    """A read-only look at the database the server writes to: the snapshots that prove what a call changed."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def conn(mcp_url: str) -> Iterator[McpConnection]:
    """One MCP connection (the app's own client, over real HTTP, with the page's service token) for the whole
    test, shared by all its examples and every user it acts for."""
    connection = McpConnection(mcp_url, TOKEN, timeout=30)
    yield connection
    connection.close()


@pytest.fixture
def callers(conn: McpConnection) -> Callers:
    """The test's clients: `callers[user]` acts for `user` with the page's service token (X-Todo-User), one per
    user, all on the test's one connection."""
    return Callers(conn)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not COUNTS:
        return
    COUNTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "-m", "pytest", *sys.argv[1:]]),
        "exit_status": int(exitstatus),
        **{section: dict(sorted(values.items())) for section, values in sorted(COUNTS.items())},
    }
    COUNTS_FILE.write_text(json.dumps(report, indent=2) + "\n")
