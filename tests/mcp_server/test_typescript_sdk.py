"""The official TypeScript MCP SDK (written by no one here), with a personal access token, against the server."""

import json
import uuid
from typing import Any

import anyio

from tests.mcp_server.support.node import NodeTools, PersonalUser, run
from tests.support import TOKEN_TOOLS, mcp_client, ok


async def service_view(url: str, user: str, title: str) -> tuple[list[str], list[dict[str, Any]]]:
    """With the page's service credential acting for `user`: every tool name, and that user's tasks titled `title`."""
    async with mcp_client(url, user=user) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        tasks = ok(await client.call_tool("list_tasks", {"search": title, "status": "all"}))["tasks"]
        return names, [task for task in tasks if task["title"] == title]


def test_the_typescript_sdk_acts_for_the_owner_of_a_personal_token(
    node_tools: NodeTools, mcp_url: str, personal_user: PersonalUser
) -> None:
    title = f"from TypeScript {uuid.uuid4().hex[:8]}"
    completed = run(
        [node_tools.node20, "client.mjs", mcp_url, personal_user.token, title], cwd=node_tools.ts_folder, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["server"]["name"] == "todo"

    # What a personal token is offered: the task and conversation tools, none of the token tools, no user argument.
    service_names, _ = anyio.run(service_view, mcp_url, personal_user.user_id, title)
    assert set(service_names) >= TOKEN_TOOLS, "the service credential sees the token tools (so hiding them is real)"
    names = [tool["name"] for tool in report["tools"]]
    assert names == [name for name in service_names if name not in TOKEN_TOOLS]
    assert len(names) == 13
    for tool in report["tools"]:
        assert "user_id" not in json.dumps(tool["inputSchema"]), tool["name"]
        assert tool["inputSchema"].get("additionalProperties") is False, tool["name"]
        assert tool.get("outputSchema"), tool["name"]

    added = report["added"]
    assert added["isError"] is False, added["text"]
    assert added["structured"]["title"] == title
    assert added["structured"]["priority"] == "high" and added["structured"]["tags"] == ["ts"]
    assert "unknown argument 'user_id'" in report["otherUser"]["text"] and report["otherUser"]["isError"]
    assert report["mint"]["isError"] and "is not for personal access tokens" in report["mint"]["text"]
    wrong = report["wrongToken"]
    assert wrong["connected"] is False and wrong["code"] == 401, wrong
    assert "invalid_token" in wrong["message"]

    # Over Python, with the page's credential: the task is the token owner's, and no one else's.
    _, mine = anyio.run(service_view, mcp_url, personal_user.user_id, title)
    assert [(task["id"], task["priority"], task["tags"]) for task in mine] == [
        (added["structured"]["id"], "high", ["ts"])
    ]
    _, others = anyio.run(service_view, mcp_url, f"other-{uuid.uuid4().hex[:8]}@example.com", title)
    assert others == []
