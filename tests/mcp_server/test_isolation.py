"""Every tool sees only its user's rows; another user's id answers exactly like one that does not exist."""

import uuid

import pytest
from mcp import Client

from tests.support import error_text, failed, ok

pytestmark = pytest.mark.anyio


async def test_another_users_task_answers_like_a_missing_one(client: Client, user_id: str) -> None:
    owner, intruder = user_id, user_id + ".intruder"
    ok(await client.call_tool("add_task", {"user_id": owner, "title": "private"}))
    ok(await client.call_tool("add_task", {"user_id": intruder, "title": "mine"}))
    for tool, extra in [
        ("complete_task", {}),
        ("reopen_task", {}),
        ("update_task", {"title": "hijacked"}),
        ("delete_task", {}),
    ]:
        foreign = failed(await client.call_tool(tool, {"user_id": intruder, "task_id": 1 + 1, **extra}))
        missing = failed(await client.call_tool(tool, {"user_id": intruder, "task_id": 2, **extra}))
        assert foreign == missing == "Task 2 does not exist. Call list_tasks to see the task numbers."
    listed = ok(await client.call_tool("list_tasks", {"user_id": intruder, "status": "all"}))
    assert [t["title"] for t in listed["tasks"]] == ["mine"]
    [task] = ok(await client.call_tool("list_tasks", {"user_id": owner, "status": "all"}))["tasks"]
    assert (task["title"], task["completed"]) == ("private", False)


async def test_another_users_conversation_answers_like_a_missing_one(client: Client, user_id: str) -> None:
    owner, intruder = user_id, user_id + ".intruder"
    cid = ok(await client.call_tool("create_conversation", {"user_id": owner}))["conversation_id"]
    ok(
        await client.call_tool(
            "append_messages",
            {"user_id": owner, "conversation_id": cid, "messages": [{"role": "user", "content": "secret"}]},
        )
    )
    missing_id = str(uuid.uuid4())
    for tool, extra in [
        ("get_conversation", {}),
        ("delete_conversation", {}),
        ("append_messages", {"messages": [{"role": "user", "content": "injected"}]}),
    ]:
        foreign = await client.call_tool(tool, {"user_id": intruder, "conversation_id": cid, **extra})
        missing = await client.call_tool(tool, {"user_id": intruder, "conversation_id": missing_id, **extra})
        assert foreign.is_error and missing.is_error
        assert error_text(foreign).replace(cid, "ID") == error_text(missing).replace(missing_id, "ID")
    assert ok(await client.call_tool("list_conversations", {"user_id": intruder}))["total"] == 0
    messages = ok(await client.call_tool("get_conversation", {"user_id": owner, "conversation_id": cid}))["messages"]
    assert [m["content"] for m in messages] == ["secret"]


async def test_recent_and_keys_never_reach_another_users_conversation(client: Client, user_id: str) -> None:
    owner, intruder = user_id, user_id + ".intruder"
    cid = ok(await client.call_tool("create_conversation", {"user_id": owner}))["conversation_id"]
    batch = [{"role": "user", "content": "secret"}]
    keyed = {"conversation_id": cid, "messages": batch, "idempotency_key": "k1", "recent": 200}
    ok(await client.call_tool("append_messages", {"user_id": owner, **keyed}))
    foreign = await client.call_tool("append_messages", {"user_id": intruder, **keyed})
    assert failed(foreign) == f"Conversation {cid} does not exist. Start a new conversation."
    assert "secret" not in str(foreign.structured_content)
    own = ok(await client.call_tool("create_conversation", {"user_id": intruder}))["conversation_id"]
    mine = ok(await client.call_tool("append_messages", {"user_id": intruder, **keyed, "conversation_id": own}))
    assert (mine["appended"], mine["total_messages"]) == (1, 1), "the owner's key is not the intruder's"
    assert [m["content"] for m in mine["messages"]] == ["secret"], "the intruder's own copy, in their conversation"
    messages = ok(await client.call_tool("get_conversation", {"user_id": owner, "conversation_id": cid}))["messages"]
    assert [m["content"] for m in messages] == ["secret"]
