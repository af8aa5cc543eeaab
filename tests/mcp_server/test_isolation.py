"""Every tool sees only its caller's rows; another user's id answers exactly like one that does not exist. Who is
calling comes from the credential only: no tool takes a user, and the token tools answer the page's service
credential only."""

import uuid
from collections.abc import AsyncIterator

import pytest
from mcp import Client

from tests.support import error_text, failed, mcp_client, ok, personal_token

pytestmark = pytest.mark.anyio

TOKEN_TOOLS = {"create_access_token", "list_access_tokens", "revoke_access_token"}
OFFER_TO_MODEL = "todo-chatbot/offer-to-model"


@pytest.fixture
async def intruder(mcp_url: str, user_id: str) -> AsyncIterator[Client]:
    """The page's service credential acting for another user than the `client` fixture's."""
    async with mcp_client(mcp_url, user=user_id + ".intruder") as c:
        yield c


async def test_another_users_task_answers_like_a_missing_one(client: Client, intruder: Client) -> None:
    ok(await client.call_tool("add_task", {"title": "private"}))
    ok(await intruder.call_tool("add_task", {"title": "mine"}))
    for tool, extra in [
        ("complete_task", {}),
        ("reopen_task", {}),
        ("update_task", {"title": "hijacked"}),
        ("delete_task", {}),
    ]:
        foreign = failed(await intruder.call_tool(tool, {"task_id": 1 + 1, **extra}))
        missing = failed(await intruder.call_tool(tool, {"task_id": 2, **extra}))
        assert foreign == missing == "Task 2 does not exist. Call list_tasks to see the task numbers."
    listed = ok(await intruder.call_tool("list_tasks", {"status": "all"}))
    assert [t["title"] for t in listed["tasks"]] == ["mine"]
    [task] = ok(await client.call_tool("list_tasks", {"status": "all"}))["tasks"]
    assert (task["title"], task["completed"]) == ("private", False)


async def test_another_users_conversation_answers_like_a_missing_one(client: Client, intruder: Client) -> None:
    cid = ok(await client.call_tool("create_conversation", {}))["conversation_id"]
    ok(
        await client.call_tool(
            "append_messages",
            {"conversation_id": cid, "messages": [{"role": "user", "content": "secret"}]},
        )
    )
    missing_id = str(uuid.uuid4())
    for tool, extra in [
        ("get_conversation", {}),
        ("delete_conversation", {}),
        ("append_messages", {"messages": [{"role": "user", "content": "injected"}]}),
    ]:
        foreign = await intruder.call_tool(tool, {"conversation_id": cid, **extra})
        missing = await intruder.call_tool(tool, {"conversation_id": missing_id, **extra})
        assert foreign.is_error and missing.is_error
        assert error_text(foreign).replace(cid, "ID") == error_text(missing).replace(missing_id, "ID")
    assert ok(await intruder.call_tool("list_conversations", {}))["total"] == 0
    messages = ok(await client.call_tool("get_conversation", {"conversation_id": cid}))["messages"]
    assert [m["content"] for m in messages] == ["secret"]


async def test_recent_and_keys_never_reach_another_users_conversation(client: Client, intruder: Client) -> None:
    cid = ok(await client.call_tool("create_conversation", {}))["conversation_id"]
    batch = [{"role": "user", "content": "secret"}]
    keyed = {"conversation_id": cid, "messages": batch, "idempotency_key": "k1", "recent": 200}
    ok(await client.call_tool("append_messages", keyed))
    foreign = await intruder.call_tool("append_messages", keyed)
    assert failed(foreign) == f"Conversation {cid} does not exist. Start a new conversation."
    assert "secret" not in str(foreign.structured_content)
    own = ok(await intruder.call_tool("create_conversation", {}))["conversation_id"]
    mine = ok(await intruder.call_tool("append_messages", {**keyed, "conversation_id": own}))
    assert (mine["appended"], mine["total_messages"]) == (1, 1), "the owner's key is not the intruder's"
    assert [m["content"] for m in mine["messages"]] == ["secret"], "the intruder's own copy, in their conversation"
    messages = ok(await client.call_tool("get_conversation", {"conversation_id": cid}))["messages"]
    assert [m["content"] for m in messages] == ["secret"]


def properties_named(schema: object, name: str) -> list[object]:
    """Every object schema, at any depth, that declares a property `name`."""
    found: list[object] = []
    if isinstance(schema, dict):
        if name in (schema.get("properties") or {}):
            found.append(schema)
        for value in schema.values():
            found.extend(properties_named(value, name))
    elif isinstance(schema, list):
        for item in schema:
            found.extend(properties_named(item, name))
    return found


async def test_no_tool_takes_a_user(client: Client) -> None:
    tools = (await client.list_tools()).tools
    assert len(tools) == 14
    for tool in tools:
        assert properties_named(tool.input_schema, "user_id") == [], tool.name
        assert "user_id" not in tool.input_schema.get("required", []), tool.name


async def test_the_token_tools_are_listed_for_the_service_credential_only(client: Client, mcp_url: str) -> None:
    service = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(service) >= TOKEN_TOOLS
    async with mcp_client(mcp_url, await personal_token(client)) as personal_client:
        personal = {tool.name for tool in (await personal_client.list_tools()).tools}
    assert personal.isdisjoint(TOKEN_TOOLS)
    assert personal == set(service) - TOKEN_TOOLS, "a personal token sees every other tool"
    for name in TOKEN_TOOLS:
        assert OFFER_TO_MODEL not in (service[name].meta or {}), f"{name} is never offered to a model"
