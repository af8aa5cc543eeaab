"""Shared fixtures: one real PostgreSQL for the session, the MCP server over real HTTP on a free port."""

import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from mcp import Client

from app.client import McpConnection
from devtools.postgres import LocalPostgres
from mcp_server.db import Database
from mcp_server.migrate import upgrade
from mcp_server.server import build_app
from mcp_server.settings import Settings
from tests.support import TOKEN, TOKEN_SHA256, ServerThread, mcp_client


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "mcp_service_token_sha256": TOKEN_SHA256,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings.model_validate(values)


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    with tempfile.TemporaryDirectory(prefix="todo-tests-") as folder, LocalPostgres(Path(folder) / "pg") as pg:
        yield pg


@pytest.fixture(scope="session")
def database_url(postgres: LocalPostgres) -> str:
    db = Database(make_settings(postgres.url).sqlalchemy_url)
    upgrade(db.engine)
    db.dispose()
    return postgres.url


@pytest.fixture(scope="session")
def mcp_server(database_url: str) -> Iterator[ServerThread]:
    server = ServerThread(build_app(make_settings(database_url))).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mcp_url(mcp_server: ServerThread) -> str:
    return f"{mcp_server.base_url}/mcp"


@pytest.fixture
def user_id() -> str:
    """A fresh user per test: tests share one database and never see each other's rows."""
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


@pytest.fixture
def connection(mcp_url: str) -> Iterator[McpConnection]:
    """The app's own MCP client to the session's server (real HTTP, the page's service token), for one test."""
    mcp = McpConnection(mcp_url, TOKEN, timeout=30)
    yield mcp
    mcp.close()


@pytest.fixture
async def client(mcp_url: str, user_id: str) -> AsyncIterator[Client]:
    """The official SDK's client with the page's service token, acting for this test's user."""
    async with mcp_client(mcp_url, user=user_id) as c:
        yield c


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"
