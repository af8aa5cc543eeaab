"""`python -m mcp_server` as a process, driven by our client and by one no one here wrote (TypeScript SDK)."""

import json
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.servers import McpProcess
from tests.mcp_server.support.node import NodeTools, run
from tests.support import TOKEN, TOKEN_TOOLS, mcp_client, ok, personal_token

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def server_process(database_url: str) -> Iterator[str]:
    server = McpProcess(database_url, service_token=TOKEN, own_output=True).start(timeout=30)
    try:
        yield server.url
    finally:
        # uvicorn finishes its shutdown, then re-raises SIGTERM so that the exit status tells why it stopped.
        assert server.stop() in (0, -signal.SIGTERM), "the server shuts down on SIGTERM"
        server.close()


async def test_the_entry_point_lists_all_thirteen_tools_with_schemas(server_process: str, user_id: str) -> None:
    """Thirteen tools for a personal token; the page's service credential also sees the three token tools."""
    async with mcp_client(server_process, user=user_id) as service:
        service_tools = {tool.name for tool in (await service.list_tools()).tools}
        async with mcp_client(server_process, await personal_token(service, "entry point")) as client:
            tools = (await client.list_tools()).tools
            assert len(tools) == 13
            for tool in tools:
                assert "user_id" not in tool.input_schema.get("properties", {}), tool.name
                assert tool.output_schema is not None, tool.name
            ok(await client.call_tool("add_task", {"title": "served"}))
        [task] = ok(await service.call_tool("list_tasks", {}))["tasks"]
    assert task["title"] == "served", "the personal token acted for its owner"
    assert service_tools == {tool.name for tool in tools} | TOKEN_TOOLS


def run_ts_client(node_tools: NodeTools, url: str, token: str, *user: str) -> dict[str, Any]:
    """The TypeScript SDK client's report (tests/mcp_server/clients/ts/client.mjs; with a user, it sends
    X-Todo-User), adding a task titled "from TypeScript"."""
    completed = run(
        [node_tools.node20, "client.mjs", url, token, "from TypeScript", *user], cwd=node_tools.ts_folder, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


async def test_the_typescript_sdk_lists_tools_and_adds_a_task(
    node_tools: NodeTools, server_process: str, user_id: str
) -> None:
    """With a personal token made over Python first, as a user's own MCP client would be set up."""
    async with mcp_client(server_process, user=user_id) as service:
        token = await personal_token(service, "TypeScript")
    report = run_ts_client(node_tools, server_process, token)
    assert len(report["tools"]) == 13
    assert all(
        "user_id" not in tool["inputSchema"].get("properties", {}) and tool.get("outputSchema")
        for tool in report["tools"]
    )
    added = report["added"]["structured"]
    assert added["id"] == 1 and added["title"] == "from TypeScript"
    assert added["priority"] == "high" and added["tags"] == ["ts"]
    assert report["refused"]["isError"] is True
    assert "title: String should have at least 1 character" in report["refused"]["text"]
    async with mcp_client(server_process, user=user_id) as service:
        [task] = ok(await service.call_tool("list_tasks", {}))["tasks"]
    assert task["title"] == "from TypeScript", "the personal token acted for its owner"


async def test_the_typescript_sdk_with_the_service_token_acts_for_the_named_user(
    node_tools: NodeTools, server_process: str, user_id: str
) -> None:
    report = run_ts_client(node_tools, server_process, TOKEN, user_id)
    assert {tool["name"] for tool in report["tools"]} >= TOKEN_TOOLS
    assert all("user_id" not in tool["inputSchema"].get("properties", {}) for tool in report["tools"])
    added = report["added"]["structured"]
    assert added["id"] == 1 and added["title"] == "from TypeScript"
    async with mcp_client(server_process, user=user_id) as service:
        [task] = ok(await service.call_tool("list_tasks", {}))["tasks"]
    assert task["title"] == "from TypeScript"
