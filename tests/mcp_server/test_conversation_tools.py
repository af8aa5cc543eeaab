"""Conversation tools: create, list, read (all or the most recent N), append (with idempotency keys and the recent
tail), rename, delete; the automatic title (search_conversations: test_conversation_search.py)."""

import uuid
from typing import Any

import pytest
from mcp import Client

from tests.support import failed, ok

pytestmark = pytest.mark.anyio


async def create(client: Client, **fields: Any) -> dict[str, Any]:
    return ok(await client.call_tool("create_conversation", fields))


async def append(client: Client, conversation_id: str, *messages: dict[str, Any]) -> dict[str, Any]:
    arguments = {"conversation_id": conversation_id, "messages": list(messages)}
    return ok(await client.call_tool("append_messages", arguments))


async def read(client: Client, conversation_id: str, **extra: Any) -> dict[str, Any]:
    arguments = {"conversation_id": conversation_id, **extra}
    return ok(await client.call_tool("get_conversation", arguments))


TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "add_task", "arguments": '{"title": "milk"}'}}


async def test_a_turn_with_tool_calls_round_trips_in_order(client: Client) -> None:
    conversation = await create(client)
    cid = conversation["conversation_id"]
    assert conversation["title"] == ""
    result = await append(
        client,
        cid,
        {"role": "user", "content": "add milk to my list please"},
        {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL]},
        {"role": "tool", "content": '{"id": 1, "title": "milk"}', "tool_call_id": "call_1"},
        {"role": "assistant", "content": "Added task 1: milk."},
    )
    assert result == {"conversation_id": cid, "appended": 4, "total_messages": 4, "messages": []}
    full = await read(client, cid)
    assert full["title"] == "Milk", "the first user message's short title (test_titles.py)"
    assert [m["role"] for m in full["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert full["messages"][1]["tool_calls"] == [TOOL_CALL]
    assert full["messages"][2]["tool_call_id"] == "call_1"
    assert full["messages"][3]["content"] == "Added task 1: milk."
    assert full["total_messages"] == 4


async def test_get_conversation_limit_returns_the_most_recent_in_order(client: Client) -> None:
    cid = (await create(client))["conversation_id"]
    for i in range(6):
        await append(client, cid, {"role": "user", "content": f"message {i}"})
    recent = await read(client, cid, limit=3)
    assert [m["content"] for m in recent["messages"]] == ["message 3", "message 4", "message 5"]
    assert recent["total_messages"] == 6


async def test_a_repeated_keyed_append_stores_once_and_answers_the_same(client: Client) -> None:
    cid = (await create(client))["conversation_id"]
    await append(client, cid, {"role": "user", "content": "before"})
    batch = [{"role": "user", "content": "add milk"}, {"role": "assistant", "content": "Added."}]
    arguments = {"conversation_id": cid, "messages": batch, "idempotency_key": "turn-1:append"}
    first = ok(await client.call_tool("append_messages", arguments))
    before_retry = await read(client, cid)
    await append(client, cid, {"role": "user", "content": "after"})
    again = ok(await client.call_tool("append_messages", arguments))
    assert first == again == {"conversation_id": cid, "appended": 2, "total_messages": 3, "messages": []}
    after = await read(client, cid)
    assert [m["content"] for m in after["messages"]] == ["before", "add milk", "Added.", "after"]
    assert after["updated_at"] > before_retry["updated_at"], "the unkeyed append in between touched it"
    replayed = ok(await client.call_tool("append_messages", {**arguments, "recent": 2}))
    assert (replayed["appended"], replayed["total_messages"]) == (2, 3)
    assert [m["content"] for m in replayed["messages"]] == ["Added.", "after"], "recent is as of now"
    assert (await read(client, cid)) == after, "a replay changes nothing, not even updated_at"


async def test_a_different_key_stores_again(client: Client) -> None:
    cid = (await create(client))["conversation_id"]
    arguments = {"conversation_id": cid, "messages": [{"role": "user", "content": "hi"}]}
    first = ok(await client.call_tool("append_messages", {**arguments, "idempotency_key": "k1"}))
    second = ok(await client.call_tool("append_messages", {**arguments, "idempotency_key": "k2"}))
    unkeyed = ok(await client.call_tool("append_messages", arguments))
    assert [r["total_messages"] for r in (first, second, unkeyed)] == [1, 2, 3]
    assert (await read(client, cid))["total_messages"] == 3


async def test_the_same_key_in_another_conversation_is_independent(client: Client) -> None:
    one, two = [(await create(client))["conversation_id"] for _ in range(2)]
    await append(client, two, {"role": "user", "content": "already here"})
    for cid, expected_total in [(one, 1), (two, 2)]:
        arguments = {
            "conversation_id": cid,
            "messages": [{"role": "user", "content": "same key"}],
            "idempotency_key": "shared",
        }
        result = ok(await client.call_tool("append_messages", arguments))
        assert (result["appended"], result["total_messages"]) == (1, expected_total)
    assert [m["content"] for m in (await read(client, one))["messages"]] == ["same key"]
    assert [m["content"] for m in (await read(client, two))["messages"]] == ["already here", "same key"]


async def test_recent_returns_the_tail_including_the_new_messages(client: Client) -> None:
    cid = (await create(client))["conversation_id"]
    await append(client, cid, *({"role": "user", "content": f"old {i}"} for i in range(3)))
    arguments = {
        "conversation_id": cid,
        "messages": [
            {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL]},
            {"role": "tool", "content": "{}", "tool_call_id": "call_1"},
        ],
    }
    result = ok(await client.call_tool("append_messages", {**arguments, "recent": 3}))
    assert (result["appended"], result["total_messages"]) == (2, 5)
    full = await read(client, cid)
    assert result["messages"] == full["messages"][-3:], "the same shape and order as get_conversation"
    assert [m["content"] for m in result["messages"]] == ["old 2", "", "{}"]
    assert result["messages"][1]["tool_calls"] == [TOOL_CALL]
    everything = ok(await client.call_tool("append_messages", {**arguments, "recent": 200}))
    assert everything["messages"] == (await read(client, cid))["messages"]
    assert len(everything["messages"]) == everything["total_messages"] == 7


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"recent": -1}, "recent: Input should be greater than or equal to 0"),
        ({"recent": 201}, "recent: Input should be less than or equal to 200"),
        ({"recent": True}, "recent: Value error, must be a number, not true/false"),
        ({"idempotency_key": ""}, "idempotency_key: String should have at least 1 character"),
        ({"idempotency_key": "x" * 65}, "idempotency_key: String should have at most 64 characters"),
        ({"idempotency_key": "has space"}, "idempotency_key: String should match pattern"),
    ],
)
async def test_bad_recent_or_key_is_refused_and_nothing_is_appended(
    client: Client, extra: dict[str, Any], expected: str
) -> None:
    cid = (await create(client))["conversation_id"]
    arguments = {"conversation_id": cid, "messages": [{"role": "user", "content": "x"}], **extra}
    assert expected in failed(await client.call_tool("append_messages", arguments))
    assert (await read(client, cid))["total_messages"] == 0


async def test_long_first_message_gives_a_short_title(client: Client) -> None:
    cid = (await create(client))["conversation_id"]
    await append(client, cid, {"role": "user", "content": "word " * 100})
    title = (await read(client, cid))["title"]
    assert len(title) <= 48 and title.endswith("…") and title.startswith("Word word")
    await append(client, cid, {"role": "user", "content": "a later message"})
    assert (await read(client, cid))["title"] == title, "the title stays once set"


async def test_list_conversations_newest_activity_first(client: Client) -> None:
    first = (await create(client, title="first"))["conversation_id"]
    second = (await create(client, title="second"))["conversation_id"]
    listed = ok(await client.call_tool("list_conversations", {}))
    assert [c["conversation_id"] for c in listed["conversations"]] == [second, first]
    await append(client, first, {"role": "user", "content": "bump"})
    listed = ok(await client.call_tool("list_conversations", {}))
    assert [c["title"] for c in listed["conversations"]] == ["first", "second"] and listed["total"] == 2
    page = ok(await client.call_tool("list_conversations", {"limit": 1, "offset": 1}))
    assert [c["title"] for c in page["conversations"]] == ["second"] and page["total"] == 2


async def rename(client: Client, conversation_id: str, title: str) -> dict[str, Any]:
    return ok(await client.call_tool("rename_conversation", {"conversation_id": conversation_id, "title": title}))


async def test_rename_then_list_shows_the_new_title_in_the_same_place(client: Client) -> None:
    first = await create(client, title="first")
    second = await create(client, title="second")
    await append(client, first["conversation_id"], {"role": "user", "content": "hello"})
    before = ok(await client.call_tool("list_conversations", {}))["conversations"]
    renamed = await rename(client, second["conversation_id"], "  Q3   planning ")
    assert renamed == {**second, "title": "Q3 planning"}, "one line, stripped; created_at and updated_at kept"
    after = ok(await client.call_tool("list_conversations", {}))["conversations"]
    assert [c["conversation_id"] for c in after] == [c["conversation_id"] for c in before], "it keeps its place"
    assert [c["title"] for c in after] == ["first", "Q3 planning"]
    assert (await read(client, second["conversation_id"]))["title"] == "Q3 planning"
    assert await rename(client, second["conversation_id"], "Q3 planning") == renamed, "a repeat answers the same"


async def test_a_renamed_conversation_keeps_its_title_when_messages_come(client: Client) -> None:
    cid = (await create(client))["conversation_id"]
    await rename(client, cid, "Named before the first message")
    await append(client, cid, {"role": "user", "content": "add milk"})
    assert (await read(client, cid))["title"] == "Named before the first message"
    await rename(client, cid, "And again")
    assert (await read(client, cid))["title"] == "And again"


async def test_a_long_new_title_is_cut_like_a_given_one(client: Client) -> None:
    cid = (await create(client))["conversation_id"]
    created = await create(client, title="x" * 200)
    renamed = await rename(client, cid, "x" * 200)
    assert renamed["title"] == created["title"] == "x" * 79 + "…"


BLANK_TITLE = (
    "Invalid arguments for rename_conversation: title: Value error, must not be empty: send the conversation's new "
    "title (1-200 characters). Nothing was changed; fix them and retry."
)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("", BLANK_TITLE),
        ("   ", BLANK_TITLE),
        ("\t\n", BLANK_TITLE),
        ("x" * 201, "title: String should have at most 200 characters"),
        ("two\nlines", "title: Value error, must be a single line"),
        ("nul\x00", "control characters"),
    ],
)
async def test_a_bad_new_title_is_refused_and_nothing_changes(client: Client, title: str, expected: str) -> None:
    conversation = await create(client, title="kept")
    await append(client, conversation["conversation_id"], {"role": "user", "content": "hello"})
    before = await read(client, conversation["conversation_id"])
    message = failed(
        await client.call_tool("rename_conversation", {"conversation_id": before["conversation_id"], "title": title})
    )
    assert expected in message
    assert await read(client, conversation["conversation_id"]) == before


async def test_rename_needs_a_title(client: Client) -> None:
    cid = (await create(client))["conversation_id"]
    message = failed(await client.call_tool("rename_conversation", {"conversation_id": cid}))
    assert "title: Field required" in message


async def test_delete_conversation_removes_it_and_its_messages(client: Client) -> None:
    cid = (await create(client))["conversation_id"]
    await append(client, cid, {"role": "user", "content": "hello"})
    deleted = ok(await client.call_tool("delete_conversation", {"conversation_id": cid}))
    assert deleted == {"deleted": True, "conversation_id": cid}
    message = failed(await client.call_tool("get_conversation", {"conversation_id": cid}))
    assert f"Conversation {cid} does not exist" in message


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([], "messages: List should have at least 1 item"),
        ([{"role": "system", "content": "obey"}], "role: Input should be 'user', 'assistant' or 'tool'"),
        ([{"role": "user", "content": "nul\x00"}], "control characters"),
        ([{"role": "user", "content": "x", "extra": 1}], "Extra inputs are not permitted"),
        ([{"role": "user", "content": "x" * 32_001}], "at most 32000 characters"),
        ([{"role": "user", "content": "ok"}, {"role": "tool", "content": "\x00"}], "messages.1.content"),
    ],
)
async def test_bad_messages_are_refused_and_nothing_is_appended(
    client: Client, messages: list[dict[str, Any]], expected: str
) -> None:
    cid = (await create(client))["conversation_id"]
    arguments = {"conversation_id": cid, "messages": messages}
    assert expected in failed(await client.call_tool("append_messages", arguments))
    assert (await read(client, cid))["total_messages"] == 0


@pytest.mark.parametrize(
    ("tool", "extra"),
    [("get_conversation", {}), ("delete_conversation", {}), ("rename_conversation", {"title": "renamed"})],
)
async def test_unknown_and_malformed_conversation_ids(client: Client, tool: str, extra: dict[str, Any]) -> None:
    unknown = str(uuid.uuid4())
    assert "does not exist" in failed(await client.call_tool(tool, {"conversation_id": unknown, **extra}))
    malformed = failed(await client.call_tool(tool, {"conversation_id": "not-a-uuid", **extra}))
    assert "conversation_id: Input should be a valid UUID" in malformed


async def test_append_to_unknown_conversation_is_refused(client: Client) -> None:
    arguments = {"conversation_id": str(uuid.uuid4()), "messages": [{"role": "user"}]}
    assert "does not exist" in failed(await client.call_tool("append_messages", arguments))


@pytest.mark.parametrize("title", ["plans\x00", "\x1b[2Jplans", "two\nlines", "two\u2028lines", "two\u2029lines"])
async def test_a_conversation_title_is_checked_like_a_task_title(client: Client, title: str) -> None:
    assert "title" in failed(await client.call_tool("create_conversation", {"title": title}))
    assert ok(await client.call_tool("list_conversations", {}))["total"] == 0
