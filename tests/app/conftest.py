"""Fixtures for the UI tier: one MCP connection (the page's service token) per module."""

from collections.abc import Iterator

import pytest

from app.client import McpConnection, TodoClient
from tests.support import TOKEN


@pytest.fixture(scope="module")
def connection(mcp_url: str) -> Iterator[McpConnection]:
    mcp = McpConnection(mcp_url, TOKEN, timeout=10)
    yield mcp
    mcp.close()


@pytest.fixture
def todo(connection: McpConnection, user_id: str) -> TodoClient:
    """The page's view: the service token, acting for this test's user."""
    return TodoClient(connection, acting_for=user_id)
