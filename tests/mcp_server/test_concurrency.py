"""Concurrent writes from many MCP clients (the SDK client over real HTTP, one connection each, each the page's
service token acting for one user):
- 200 add_task calls across 10 users from 40 clients (4 racing per user) lose nothing and leave each user's
  numbers 1..k contiguous;
- complete/reopen/update/delete racing on one task leave it consistent, and a deleted task stays deleted;
- concurrent append_messages to one conversation keep every message exactly once, in one consistent order.

Also the plain cases: fifty concurrent adds for one user, a retried key stored once.
"""

import contextlib
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import psycopg
import pytest
from mcp import Client
from mcp.types import CallToolResult

from mcp_server.settings import Settings
from tests.mcp_server.support.callers import TASK_MISSING, count, snapshot
from tests.support import error_text, mcp_client, ok

pytestmark = [pytest.mark.anyio, pytest.mark.reliability]

USERS = 10
WRITES = 200
CLIENTS = 40


async def with_clients(
    mcp_url: str, n: int, user_of: Callable[[int], str], work: Callable[[int, Client], Awaitable[None]]
) -> None:
    """Run work(i, client) for i in 0..n-1 at once, each on its own MCP connection acting for user_of(i)."""

    async def one(i: int) -> None:
        async with mcp_client(mcp_url, user=user_of(i)) as client:
            await work(i, client)

    async with anyio.create_task_group() as group:
        for i in range(n):
            group.start_soon(one, i)


async def test_200_concurrent_adds_across_10_users_lose_nothing(mcp_url: str, pg: psycopg.Connection) -> None:
    run = uuid.uuid4().hex[:8]
    users = [f"load-{run}-{u}@example.com" for u in range(USERS)]
    jobs = [(users[i % USERS], f"write {i}") for i in range(WRITES)]
    random.Random(7).shuffle(jobs)
    answers: dict[str, list[int]] = {user: [] for user in users}
    # A client acts for one user: client i for users[i % USERS], so each user's writes race over CLIENTS // USERS
    # connections, all users at once; each client takes its user's writes in the shuffled order.
    mine = {
        i: [title for owner, title in jobs if owner == users[i % USERS]][i // USERS :: CLIENTS // USERS]
        for i in range(CLIENTS)
    }

    async def writer(i: int, client: Client) -> None:
        user = users[i % USERS]
        for title in mine[i]:
            task = ok(await client.call_tool("add_task", {"title": title}))
            assert task["title"] == title
            answers[user].append(task["id"])

    await with_clients(mcp_url, CLIENTS, lambda i: users[i % USERS], writer)
    assert sum(map(len, mine.values())) == WRITES

    stored = snapshot(pg, users).users
    lost = 0
    for user in users:
        sent = sorted(title for owner, title in jobs if owner == user)
        k = len(sent)
        assert sorted(answers[user]) == list(range(1, k + 1)), f"{user}: numbers handed out {sorted(answers[user])}"
        assert sorted(stored[user].tasks) == list(range(1, k + 1)), f"{user}: stored numbers not 1..{k}"
        assert stored[user].counter == k
        kept = sorted(row["title"] for row in stored[user].tasks.values())
        lost += len(set(sent) - set(kept))
        assert kept == sent, f"{user}: lost or duplicated writes"
    for user in users:
        async with mcp_client(mcp_url, user=user) as client:
            listed = ok(await client.call_tool("list_tasks", {"status": "all", "limit": 200}))
            assert [t["id"] for t in listed["tasks"]] == list(range(1, WRITES // USERS + 1)) and listed["total"] == 20
    count("concurrency", "add_task_writes", WRITES)
    count("concurrency", "add_task_clients", CLIENTS)
    count("concurrency", "lost_writes", lost)


def consistent(task: dict[str, Any]) -> bool:
    return (task["completed_at"] is None) is (not task["completed"]) and task["updated_at"] >= task["created_at"]


class Race:
    """Many clients hammering task 1 of one user; every call's start, end and answer recorded."""

    CLIENTS = 30
    DELETE_STEP = 3

    def __init__(self, user: str, with_delete: bool, seed: int):
        self.user, self.with_delete, self.rng = user, with_delete, random.Random(seed)
        self.calls: list[tuple[float, float, str, dict[str, Any], CallToolResult]] = []
        self.titles = {"the task"}
        self.deleters = [i for i in range(self.CLIENTS) if with_delete and i % 3 == 0]
        self.ready = 0
        self.go = anyio.Event()

    def arguments(self, client_index: int, step: int) -> tuple[str, dict[str, Any]]:
        if client_index in self.deleters and step == self.DELETE_STEP:
            return "delete_task", {"task_id": 1}
        tool = self.rng.choice(["complete_task", "reopen_task", "update_task", "update_task"])
        extra: dict[str, Any] = {}
        if tool == "update_task":
            title = f"title {client_index}.{step}"
            self.titles.add(title)
            extra = self.rng.choice(
                [{"title": title}, {"priority": "high"}, {"due_date": "2030-01-01"}, {"clear_due_date": True}]
            )
        return tool, {"task_id": 1, **extra}

    async def client(self, i: int, client: Client) -> None:
        for step in range(8):
            tool, arguments = self.arguments(i, step)
            if tool == "delete_task":  # the deleters wait for each other, then all delete at once
                self.ready += 1
                if self.ready == len(self.deleters):
                    self.go.set()
                await self.go.wait()
            started = time.monotonic()
            result = await client.call_tool(tool, arguments)
            self.calls.append((started, time.monotonic(), tool, arguments, result))


@pytest.mark.parametrize("with_delete", [True, False], ids=["with-delete", "without-delete"])
@pytest.mark.parametrize("round_", range(2))
async def test_racing_changes_to_one_task_leave_it_consistent(
    mcp_url: str, pg: psycopg.Connection, with_delete: bool, round_: int
) -> None:
    user = f"race-{uuid.uuid4().hex[:10]}@example.com"
    async with mcp_client(mcp_url, user=user) as client:
        ok(await client.call_tool("add_task", {"title": "the task"}))
    race = Race(user, with_delete, seed=round_)
    await with_clients(mcp_url, Race.CLIENTS, lambda _: user, race.client)
    count("concurrency", "racing_calls", len(race.calls))

    deleted = [(s, e) for s, e, tool, _, result in race.calls if tool == "delete_task" and not result.is_error]
    assert len(deleted) == (1 if with_delete else 0), f"the task was deleted {len(deleted)} times"
    deletes = [end for _, end in deleted]
    for started, ended, tool, _, result in race.calls:
        if result.is_error:
            assert error_text(result) == TASK_MISSING.format(1), f"{tool}: {error_text(result)}"
            assert deleted and ended >= deleted[0][0], "said the task does not exist before anyone deleted it"
            continue
        task = ok(result).get("task", ok(result))
        assert task["id"] == 1 and consistent(task), f"{tool} answered an inconsistent task: {task}"
        assert task["title"] in race.titles
        if deletes:
            assert started <= deletes[0], f"{tool} found the task after its delete had been answered"

    [row] = snapshot(pg, [user]).users[user].tasks.values() or [None]
    async with mcp_client(mcp_url, user=user) as client:
        listed = ok(await client.call_tool("list_tasks", {"status": "all"}))
        if deletes:
            assert row is None and listed == {"tasks": [], "total": 0}
            for tool, extra in [("complete_task", {}), ("reopen_task", {}), ("update_task", {"title": "back?"})]:
                again = await client.call_tool(tool, {"task_id": 1, **extra})
                assert again.is_error and error_text(again) == TASK_MISSING.format(1)
            assert ok(await client.call_tool("add_task", {"title": "next"}))["id"] == 2
            return
        assert row is not None and listed["total"] == 1, "the task disappeared without a delete"
        assert (row["completed_at"] is None) is (not row["completed"]) and row["updated_at"] >= row["created_at"]
        assert row["title"] in race.titles
        assert listed["tasks"][0]["completed"] is row["completed"]


async def test_concurrent_appends_to_one_conversation_keep_every_message_once_in_order(
    mcp_url: str, pg: psycopg.Connection
) -> None:
    user = f"chat-{uuid.uuid4().hex[:10]}@example.com"
    writers, batches, per_batch = 25, 4, 3
    async with mcp_client(mcp_url, user=user) as client:
        cid = ok(await client.call_tool("create_conversation", {}))["conversation_id"]
    totals: dict[tuple[int, int], int] = {}
    reads: list[list[str]] = []

    async def worker(i: int, client: Client) -> None:
        if i >= writers:  # readers, while the writers write
            for _ in range(batches):
                got = ok(await client.call_tool("get_conversation", {"conversation_id": cid}))
                reads.append([m["content"] for m in got["messages"]])
            return
        for b in range(batches):
            messages = [{"role": "user", "content": f"{i}-{b}-{m}"} for m in range(per_batch)]
            result = ok(await client.call_tool("append_messages", {"conversation_id": cid, "messages": messages}))
            assert result["appended"] == per_batch
            totals[i, b] = result["total_messages"]

    await with_clients(mcp_url, writers + 5, lambda _: user, worker)

    stored = [row["content"] for row in snapshot(pg, [user]).users[user].messages[uuid.UUID(cid)]]
    expected = {f"{i}-{b}-{m}" for i in range(writers) for b in range(batches) for m in range(per_batch)}
    assert len(stored) == len(expected) and set(stored) == expected, "lost or duplicated messages"
    position = {content: index for index, content in enumerate(stored)}
    for i in range(writers):
        for b in range(batches):
            first = position[f"{i}-{b}-0"]
            assert [stored[first + m] for m in range(per_batch)] == [f"{i}-{b}-{m}" for m in range(per_batch)], (
                "a batch was interleaved with another"
            )
            assert totals[i, b] == first + per_batch, "total_messages does not match the batch's place in the order"
            if b:
                assert position[f"{i}-{b - 1}-0"] < first, "one writer's batches out of order"
    for read in reads:
        assert read == stored[: len(read)], "a reader saw an order the conversation does not have"
    async with mcp_client(mcp_url, user=user) as client:
        got = ok(await client.call_tool("get_conversation", {"conversation_id": cid}))
    assert [m["content"] for m in got["messages"]] == stored and got["total_messages"] == len(stored)
    count("concurrency", "append_writes", writers * batches)
    count("concurrency", "lost_messages", len(expected - set(stored)))


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
        # Hold the conversation's row until as many calls as the server runs at once (its pool: the rest queue
        # behind them) are inside their transactions and waiting on it, so that they truly overlap (over loopback
        # they would otherwise mostly run one after another).
        at_once = min(len(clients), Settings.model_fields["db_pool_size"].default)
        await blocker.execute("SELECT 1 FROM conversations WHERE id = %s FOR UPDATE", [cid])
        async with anyio.create_task_group() as group:
            for client in clients:
                group.start_soon(retry, client)
            with anyio.fail_after(15):
                while await waiting_for_locks(observer) < at_once:
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
