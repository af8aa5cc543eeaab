"""Concurrent writes for one user: distinct numbers, nothing lost."""

import anyio
import pytest

from tests.support import mcp_client, ok

pytestmark = pytest.mark.anyio


async def test_fifty_concurrent_adds_for_one_user_get_fifty_distinct_numbers(mcp_url: str, user_id: str) -> None:
    numbers: list[int] = []

    async def add_one(i: int) -> None:
        async with mcp_client(mcp_url) as client:
            numbers.append(ok(await client.call_tool("add_task", {"user_id": user_id, "title": f"task {i}"}))["id"])

    async with anyio.create_task_group() as group:
        for i in range(50):
            group.start_soon(add_one, i)
    assert sorted(numbers) == list(range(1, 51))
    async with mcp_client(mcp_url) as client:
        listed = ok(await client.call_tool("list_tasks", {"user_id": user_id, "limit": 200}))
    assert listed["total"] == 50
    assert sorted(t["title"] for t in listed["tasks"]) == sorted(f"task {i}" for i in range(50))


async def test_a_retried_add_with_the_same_idempotency_key_creates_one_task(mcp_url: str, user_id: str) -> None:
    arguments = {"user_id": user_id, "title": "pay rent", "idempotency_key": "turn-7:call-1"}

    async with mcp_client(mcp_url) as client:
        results = [ok(await client.call_tool("add_task", arguments)) for _ in range(3)]
        listed = ok(await client.call_tool("list_tasks", {"user_id": user_id}))
    assert {r["id"] for r in results} == {1}
    assert listed["total"] == 1


async def test_concurrent_retries_with_one_idempotency_key_create_one_task(mcp_url: str, user_id: str) -> None:
    arguments = {"user_id": user_id, "title": "book flights", "idempotency_key": "turn-9:call-2"}
    numbers: list[int] = []

    async def retry() -> None:
        async with mcp_client(mcp_url) as client:
            numbers.append(ok(await client.call_tool("add_task", arguments))["id"])

    async with anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(retry)
    assert numbers == [1] * 10
    async with mcp_client(mcp_url) as client:
        assert ok(await client.call_tool("list_tasks", {"user_id": user_id}))["total"] == 1
        after = ok(await client.call_tool("add_task", {"user_id": user_id, "title": "next"}))
    assert after["id"] == 2, "the losing retries gave their numbers back"
