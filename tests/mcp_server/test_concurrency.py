"""Concurrent writes for one user: distinct numbers, nothing lost, a retried key stored once."""

import contextlib

import anyio
import psycopg
import pytest
from mcp import Client

from tests.support import mcp_client, ok

pytestmark = pytest.mark.anyio


async def test_fifty_concurrent_adds_for_one_user_get_fifty_distinct_numbers(mcp_url: str, user_id: str) -> None:
    numbers: list[int] = []

    async def add_one(i: int) -> None:
        async with mcp_client(mcp_url, user=user_id) as client:
            numbers.append(ok(await client.call_tool("add_task", {"title": f"task {i}"}))["id"])

    async with anyio.create_task_group() as group:
        for i in range(50):
            group.start_soon(add_one, i)
    assert sorted(numbers) == list(range(1, 51))
    async with mcp_client(mcp_url, user=user_id) as client:
        listed = ok(await client.call_tool("list_tasks", {"limit": 200}))
    assert listed["total"] == 50
    assert sorted(t["title"] for t in listed["tasks"]) == sorted(f"task {i}" for i in range(50))


async def test_a_retried_add_with_the_same_idempotency_key_creates_one_task(mcp_url: str, user_id: str) -> None:
    arguments = {"title": "pay rent", "idempotency_key": "turn-7:call-1"}

    async with mcp_client(mcp_url, user=user_id) as client:
        results = [ok(await client.call_tool("add_task", arguments)) for _ in range(3)]
        listed = ok(await client.call_tool("list_tasks", {}))
    assert {r["id"] for r in results} == {1}
    assert listed["total"] == 1


async def test_concurrent_retries_with_one_idempotency_key_create_one_task(mcp_url: str, user_id: str) -> None:
    arguments = {"title": "book flights", "idempotency_key": "turn-9:call-2"}
    numbers: list[int] = []

    async def retry() -> None:
        async with mcp_client(mcp_url, user=user_id) as client:
            numbers.append(ok(await client.call_tool("add_task", arguments))["id"])

    async with anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(retry)
    assert numbers == [1] * 10
    async with mcp_client(mcp_url, user=user_id) as client:
        assert ok(await client.call_tool("list_tasks", {}))["total"] == 1
        after = ok(await client.call_tool("add_task", {"title": "next"}))
    assert after["id"] == 2, "the losing retries gave their numbers back"


async def test_twenty_concurrent_appends_with_one_key_store_one_batch(
    mcp_url: str, database_url: str, user_id: str
) -> None:
    async with mcp_client(mcp_url, user=user_id) as client:
        cid = ok(await client.call_tool("create_conversation", {}))["conversation_id"]
        first = {"conversation_id": cid, "messages": [{"role": "user", "content": "first"}]}
        ok(await client.call_tool("append_messages", first))
    batch = [{"role": "user", "content": "add milk"}, {"role": "assistant", "content": "Added task 1."}]
    arguments = {"conversation_id": cid, "messages": batch, "idempotency_key": "turn-2:append"}
    answers: list[dict[str, object]] = []

    async def retry(client: Client) -> None:
        answers.append(ok(await client.call_tool("append_messages", {**arguments, "recent": 3})))

    async with (
        contextlib.AsyncExitStack() as stack,
        await psycopg.AsyncConnection.connect(database_url) as blocker,
        await psycopg.AsyncConnection.connect(database_url, autocommit=True) as observer,
    ):
        clients = [await stack.enter_async_context(mcp_client(mcp_url, user=user_id)) for _ in range(20)]
        # Hold the conversation's row until all twenty calls are inside their transactions and waiting on it, so
        # they truly overlap (over loopback they would otherwise mostly run one after another).
        await blocker.execute("SELECT 1 FROM conversations WHERE id = %s FOR UPDATE", [cid])
        async with anyio.create_task_group() as group:
            for client in clients:
                group.start_soon(retry, client)
            with anyio.fail_after(15):
                while await waiting_for_locks(observer) < 20:
                    await anyio.sleep(0.01)
            await blocker.commit()
    assert len(answers) == 20 and all(answer == answers[0] for answer in answers)
    assert (answers[0]["appended"], answers[0]["total_messages"]) == (2, 3)
    async with mcp_client(mcp_url, user=user_id) as client:
        stored = ok(await client.call_tool("get_conversation", {"conversation_id": cid}))
    assert [m["content"] for m in stored["messages"]] == ["first", "add milk", "Added task 1."]
    assert answers[0]["messages"] == stored["messages"]


async def waiting_for_locks(observer: psycopg.AsyncConnection) -> int:
    """The server's connections waiting for a lock (the first waits for the test's, the others queue behind it)."""
    cursor = await observer.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'todo-mcp' AND wait_event_type = 'Lock'"
    )
    row = await cursor.fetchone()
    assert row is not None
    return row[0]
