"""The MCP Inspector CLI 2.x (written by no one here) against the server with a personal access token.

The CLI prints a result as JSON on stdout and an error as JSON on stderr; it may exit 0 when something went wrong
(LAB-NOTES), so every test reads what it printed as well as its exit code. `--protocol-era legacy` speaks
protocol 2025-11-25 (initialize handshake), `modern` 2026-07-28 (stateless, no handshake): both are checked.
"""

import json
import subprocess
import uuid
from typing import Any

import anyio
import pytest

from tests.mcp_server.support.node import NodeTools, PersonalUser, run
from tests.support import mcp_client, ok

ERAS = ["legacy", "modern"]
TASK_TOOLS = ["add_task", "list_tasks", "complete_task", "reopen_task", "update_task", "delete_task"]
CONVERSATION_TOOLS = [
    "create_conversation",
    "list_conversations",
    "search_conversations",
    "get_conversation",
    "append_messages",
    "rename_conversation",
    "delete_conversation",
]


def inspector(
    tools: NodeTools, env: dict[str, str], url: str, token: str | None, era: str, *args: str
) -> subprocess.CompletedProcess[str]:
    auth = ["--header", f"Authorization: Bearer {token}"] if token is not None else []
    command = [tools.inspector_node, tools.inspector_cli, "--cli", url, "--transport", "http", *auth]
    return run([*command, "--protocol-era", era, "--format", "json", *args], env=env, timeout=60)


def result_of(completed: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert completed.returncode == 0, f"exit {completed.returncode}: {completed.stderr}"
    printed = json.loads(completed.stdout)
    assert set(printed) == {"result"}, printed
    return printed["result"]


def error_of(completed: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The error envelope the CLI printed last on stderr."""
    return json.loads(completed.stderr.strip().splitlines()[-1])["error"]


async def tasks_titled(url: str, user: str, title: str) -> list[dict[str, Any]]:
    async with mcp_client(url, user=user) as client:
        tasks = ok(await client.call_tool("list_tasks", {"search": title, "status": "all"}))["tasks"]
        return [task for task in tasks if task["title"] == title]


@pytest.mark.parametrize("era", ERAS)
def test_tools_list_offers_a_personal_token_the_task_and_conversation_tools(
    era: str, node_tools: NodeTools, clean_home: dict[str, str], mcp_url: str, personal_user: PersonalUser
) -> None:
    # --strict: the Inspector's tool-schema portability check; an error-severity problem exits 6.
    listed = result_of(
        inspector(node_tools, clean_home, mcp_url, personal_user.token, era, "--method", "tools/list", "--strict")
    )
    tools = listed["tools"]
    assert [tool["name"] for tool in tools] == TASK_TOOLS + CONVERSATION_TOOLS
    for tool in tools:
        assert "user_id" not in json.dumps(tool["inputSchema"]), tool["name"]
        assert tool["outputSchema"]["type"] == "object", tool["name"]


@pytest.mark.parametrize("era", ERAS)
def test_tools_call_adds_a_task_for_the_owner_of_the_token(
    era: str, node_tools: NodeTools, clean_home: dict[str, str], mcp_url: str, personal_user: PersonalUser
) -> None:
    title = f"from the Inspector {uuid.uuid4().hex[:8]}"
    call = ["--method", "tools/call", "--tool-name", "add_task", "--tool-arg", f"title={title}", "priority=high"]
    result = result_of(inspector(node_tools, clean_home, mcp_url, personal_user.token, era, *call))
    assert result["isError"] is False
    task = result["structuredContent"]
    assert task["title"] == title and task["priority"] == "high" and task["completed"] is False
    assert json.loads(result["content"][0]["text"]) == task

    mine = anyio.run(tasks_titled, mcp_url, personal_user.user_id, title)
    assert [t["id"] for t in mine] == [task["id"]]
    assert anyio.run(tasks_titled, mcp_url, f"other-{uuid.uuid4().hex[:8]}@example.com", title) == []


def test_a_refused_call_is_reported_as_a_tool_error(
    node_tools: NodeTools, clean_home: dict[str, str], mcp_url: str, personal_user: PersonalUser
) -> None:
    bad = ["--method", "tools/call", "--tool-name", "add_task", "--tool-arg", "title=x", "priority=urgent"]
    completed = inspector(node_tools, clean_home, mcp_url, personal_user.token, "legacy", *bad)
    assert completed.returncode == 5, completed
    result = json.loads(completed.stdout)["result"]
    assert result["isError"] is True
    assert "priority: Input should be 'low', 'medium' or 'high'" in result["content"][0]["text"]
    assert error_of(completed)["code"] == "tool_is_error"

    # The token tools are not on offer to a token at all: the Inspector does not find them in tools/list.
    mint = ["--method", "tools/call", "--tool-name", "create_access_token", "--tool-arg", "name=x"]
    completed = inspector(node_tools, clean_home, mcp_url, personal_user.token, "legacy", *mint)
    assert completed.returncode == 5, completed
    assert completed.stdout == "" and error_of(completed)["code"] == "tool_not_found"


@pytest.mark.parametrize("token", ["todo_pat_this-token-does-not-exist", None], ids=["wrong-token", "no-token"])
def test_without_a_valid_token_the_inspector_is_refused(
    token: str | None, node_tools: NodeTools, clean_home: dict[str, str], mcp_url: str, personal_user: PersonalUser
) -> None:
    # The same command succeeds with the right token (so what fails below is the credential, nothing else).
    listing = ["--method", "tools/list"]
    assert result_of(inspector(node_tools, clean_home, mcp_url, personal_user.token, "legacy", *listing))["tools"]
    completed = inspector(node_tools, clean_home, mcp_url, token, "legacy", *listing)
    assert completed.returncode == 3, completed  # the server's 401 sends it to OAuth, which needs a person
    assert completed.stdout == "" and error_of(completed)["code"] == "auth_required"
