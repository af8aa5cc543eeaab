"""Two users (and a few strangers), every tool, every id guessed: nothing of one user is visible to or changeable
by another, and the answer for someone else's id is byte-identical to the answer for an id that does not exist.

Through the MCP SDK client over real HTTP; the owner's rows are also compared in the database before and after.
"""

import datetime as dt
import itertools
import random
import uuid
from typing import Any

import psycopg
import pytest
from mcp import Client
from mcp.types import CallToolResult

from tests.reliability.support import CONVERSATION_MISSING, TASK_MISSING, count, snapshot
from tests.support import error_text, ok

pytestmark = pytest.mark.anyio

# Every way to touch one task: each field of update_task on its own, an empty update, and the state changes.
TASK_PROBES: list[tuple[str, dict[str, Any]]] = [
    ("complete_task", {}),
    ("reopen_task", {}),
    ("update_task", {"title": "hijacked"}),
    ("update_task", {"description": "hijacked"}),
    ("update_task", {"priority": "low"}),
    ("update_task", {"due_date": "2000-01-01"}),
    ("update_task", {"clear_due_date": True}),
    ("update_task", {"tags": ["pwned"]}),
    ("update_task", {"tags": []}),
    ("update_task", {}),
    ("delete_task", {}),
]
OWNER_TASKS = 11
INTRUDER_TASKS = 3


def strangers(owner: str) -> list[str]:
    """User ids that are not the owner but look like it or like a wildcard."""
    local = owner.split("@")[0]
    return [owner.upper(), owner + "\u200b", owner.replace("@", "＠"), local, "%", "*", "' OR '1'='1", owner + "%"]


async def probe(client: Client, tool: str, arguments: dict[str, Any]) -> CallToolResult:
    count("isolation", "probes")
    return await client.call_tool(tool, arguments)


def wire(result: CallToolResult) -> dict[str, Any]:
    """The whole answer as it went over the wire (is_error, content, structured content, meta)."""
    return result.model_dump(mode="json")


async def seed_tasks(client: Client, user: str, label: str, n: int) -> None:
    for i in range(1, n + 1):
        ok(
            await client.call_tool(
                "add_task",
                {
                    "user_id": user,
                    "title": f"{label} task {i} common",
                    "description": "shared words",
                    "priority": ["low", "medium", "high"][i % 3],
                    "due_date": f"20{20 + i % 2 * 20}-01-{i:02d}",
                    "tags": ["shared", f"{label}{i}"],
                    "idempotency_key": f"key-{i}",
                },
            )
        )


async def test_task_numbers_of_another_user_answer_exactly_like_missing_ones(
    client: Client, pg: psycopg.Connection, user_id: str
) -> None:
    owner, intruder = user_id, f"intruder-{user_id}"
    await seed_tasks(client, intruder, "intruder", INTRUDER_TASKS)
    guesses = [*range(INTRUDER_TASKS + 1, OWNER_TASKS + 2), 2**31 - 1]

    # What the intruder hears for numbers nobody has yet...
    before_owner: dict[tuple[int, int], dict[str, Any]] = {}
    for number, (index, (tool, extra)) in itertools.product(guesses, enumerate(TASK_PROBES)):
        result = await probe(client, tool, {"user_id": intruder, "task_id": number, **extra})
        assert result.is_error and error_text(result) == TASK_MISSING.format(number), wire(result)
        before_owner[number, index] = wire(result)

    # ...must be exactly what it hears once the owner has tasks with those numbers (some done, one deleted).
    await seed_tasks(client, owner, "owner", OWNER_TASKS)
    for number in (2, 5):
        ok(await client.call_tool("complete_task", {"user_id": owner, "task_id": number}))
    ok(await client.call_tool("delete_task", {"user_id": owner, "task_id": 7}))
    owner_rows = snapshot(pg, [owner]).users[owner]
    for number, (index, (tool, extra)) in itertools.product(guesses, enumerate(TASK_PROBES)):
        result = await probe(client, tool, {"user_id": intruder, "task_id": number, **extra})
        assert wire(result) == before_owner[number, index], f"task {number} of another user answers differently"

    # Strangers (look-alike ids, wildcards, injection) hear "does not exist" for every number of the owner's.
    for stranger in strangers(owner):
        for number in range(1, OWNER_TASKS + 1):
            for tool, extra in TASK_PROBES:
                result = await probe(client, tool, {"user_id": stranger, "task_id": number, **extra})
                assert result.is_error and error_text(result) == TASK_MISSING.format(number), (stranger, tool)

    # Numbers both users have: the intruder changes and deletes only its own tasks.
    for number in range(1, INTRUDER_TASKS + 1):
        for tool, extra in TASK_PROBES:
            result = await probe(client, tool, {"user_id": intruder, "task_id": number, **extra})
            assert not result.is_error or error_text(result) == TASK_MISSING.format(number), wire(result)
            if not result.is_error:
                task = ok(result).get("task", ok(result))
                assert task["title"].startswith(("intruder", "hijacked")), task

    # An idempotency key the owner used creates the intruder's own task, not a replay of the owner's.
    mine = ok(await client.call_tool("add_task", {"user_id": intruder, "title": "mine", "idempotency_key": "key-4"}))
    assert mine["title"] == "mine" and mine["id"] == INTRUDER_TASKS + 1

    assert snapshot(pg, [owner]).users[owner] == owner_rows, "the owner's tasks changed"
    count("isolation", "leaks", 0)


LIST_FILTERS: list[dict[str, Any]] = [
    {"status": status, "priority": priority, "tag": tag, "search": search}
    for status, priority, tag, search in itertools.product(
        ["open", "done", "all"],
        [None, "low", "medium", "high"],
        [None, "shared", "owner1", "#SHARED"],
        [None, "common"],
    )
] + [
    {"status": "all", "due_before": "2100-01-01"},
    {"status": "all", "due_before": "2030-01-01", "sort": "due"},
    {"overdue": True},
    {"status": "all", "sort": "priority", "limit": 2, "offset": 1},
    {"status": "all", "sort": "due", "limit": 200, "offset": 0},
    {"status": "all", "search": "owner"},
    {"status": "all", "search": "%"},
    {"status": "all", "search": "_"},
    {"status": "all", "offset": 1_000_000},
]


def matching_count(rows: dict[int, dict[str, Any]], filters: dict[str, Any]) -> int:
    """How many of these rows the filters match (only the filters LIST_FILTERS uses with the intruder's rows)."""
    status = filters.get("status", "open")
    tag = (filters.get("tag") or "").lstrip("#").lower() or None
    search = filters.get("search")
    found = 0
    for row in rows.values():
        if status != "all" and row["completed"] != (status == "done"):
            continue
        if filters.get("priority") not in (None, row["priority"]) or (tag is not None and tag not in row["tags"]):
            continue
        if search is not None and search.lower() not in (row["title"] + " " + row["description"]).lower():
            continue
        due = row["due_date"]
        if "due_before" in filters and not (due is not None and due < dt.date.fromisoformat(filters["due_before"])):
            continue
        if filters.get("overdue") and not (due is not None and due < dt.date.today() and not row["completed"]):
            continue
        found += 1
    return found


async def test_listing_with_every_filter_shows_only_the_users_own_tasks(
    client: Client, pg: psycopg.Connection, user_id: str
) -> None:
    owner, intruder = user_id, f"intruder-{user_id}"
    await seed_tasks(client, owner, "owner", OWNER_TASKS)
    await seed_tasks(client, intruder, "intruder", INTRUDER_TASKS)
    ok(await client.call_tool("complete_task", {"user_id": owner, "task_id": 1}))
    ok(await client.call_tool("complete_task", {"user_id": intruder, "task_id": 1}))
    own = snapshot(pg, [intruder]).users[intruder].tasks
    for filters in LIST_FILTERS:
        listed = ok(await probe(client, "list_tasks", {"user_id": intruder, **filters}))
        assert all(task["title"].startswith("intruder") for task in listed["tasks"]), (filters, listed)
        if "%" not in str(filters.get("search")) and "_" not in str(filters.get("search")):
            assert listed["total"] == matching_count(own, filters), (filters, listed["total"])
        for stranger in strangers(owner):
            nothing = ok(await probe(client, "list_tasks", {"user_id": stranger, **filters}))
            assert nothing == {"tasks": [], "total": 0}, (stranger, filters)
    count("isolation", "leaks", 0)


async def test_conversations_of_another_user_answer_exactly_like_missing_ones(
    client: Client, pg: psycopg.Connection, user_id: str
) -> None:
    owner, intruder = user_id, f"intruder-{user_id}"
    owned = []
    for i in range(3):
        cid = ok(await client.call_tool("create_conversation", {"user_id": owner}))["conversation_id"]
        ok(
            await client.call_tool(
                "append_messages",
                {
                    "user_id": owner,
                    "conversation_id": cid,
                    "messages": [
                        {"role": "user", "content": f"owner secret {i}"},
                        {"role": "assistant", "tool_calls": [{"id": f"c{i}", "function": {"name": "list_tasks"}}]},
                        {"role": "tool", "tool_call_id": f"c{i}", "content": "{}"},
                    ],
                },
            )
        )
        owned.append(cid)
    mine = ok(await client.call_tool("create_conversation", {"user_id": intruder, "title": "intruder's"}))
    owner_rows = snapshot(pg, [owner]).users[owner]

    probes: list[tuple[str, dict[str, Any]]] = [
        ("get_conversation", {}),
        ("get_conversation", {"limit": 1}),
        ("get_conversation", {"limit": 10_000}),
        ("append_messages", {"messages": [{"role": "user", "content": "injected"}]}),
        ("append_messages", {"messages": [{"role": "tool", "tool_call_id": "c0", "content": "forged result"}]}),
        ("delete_conversation", {}),
    ]
    missing = [str(uuid.uuid4()) for _ in range(3)] + ["00000000-0000-0000-0000-000000000000"]
    for who in [intruder, *strangers(owner)]:
        for tool, extra in probes:
            answers = {}
            for cid in owned + missing:
                for spelling in (cid, cid.upper()):
                    result = await probe(client, tool, {"user_id": who, "conversation_id": spelling, **extra})
                    assert result.is_error and error_text(result) == CONVERSATION_MISSING.format(cid), wire(result)
                    answers[cid, spelling == cid] = wire(result)
            # Byte-identical once the id itself is taken out: the owner's ids and ids nobody has.
            shapes = {str(answer).replace(cid, "<id>") for (cid, _), answer in answers.items()}
            assert len(shapes) == 1, shapes

    listed = ok(await probe(client, "list_conversations", {"user_id": intruder, "limit": 200}))
    assert [c["conversation_id"] for c in listed["conversations"]] == [mine["conversation_id"]], listed
    for limit, offset in [(1, 0), (1, 1), (200, 0), (200, 5)]:
        for stranger in strangers(owner):
            nothing = ok(
                await probe(client, "list_conversations", {"user_id": stranger, "limit": limit, "offset": offset})
            )
            assert nothing == {"conversations": [], "total": 0}, stranger
    assert snapshot(pg, [owner]).users[owner] == owner_rows, "the owner's conversations changed"
    count("isolation", "leaks", 0)


async def test_random_ids_answer_like_missing_ones(client: Client, user_id: str) -> None:
    """Numbers and ids nobody holds, from a fixed seed: the same sentence for all, nothing else."""
    rng = random.Random(20261126)
    await seed_tasks(client, user_id, "owner", 2)
    for number in [rng.randrange(3, 2**31) for _ in range(25)]:
        for tool, extra in TASK_PROBES:
            result = await probe(client, tool, {"user_id": user_id, "task_id": number, **extra})
            assert result.is_error and error_text(result) == TASK_MISSING.format(number), wire(result)
    for cid in [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(25)]:
        result = await probe(client, "get_conversation", {"user_id": user_id, "conversation_id": cid})
        assert result.is_error and error_text(result) == CONVERSATION_MISSING.format(cid), wire(result)
