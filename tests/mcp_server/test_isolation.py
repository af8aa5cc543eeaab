"""Two users (and a few strangers), every tool, every id guessed: nothing of one user is visible to or changeable
by another, and the answer for someone else's id is byte-identical to the answer for an id that does not exist.

No tool takes a user: the caller is the credential's. A user here is either the page's service token acting for
them (the X-Todo-User header; one SDK client per user, over real HTTP) or one of their personal access tokens,
which acts for its owner only: whatever it sends (a `user_id` argument: refused as unknown; an X-Todo-User header,
even its owner's: HTTP 403; another user's task numbers, conversation ids, token ids: answered exactly like ids
that do not exist) it never reaches another user's rows. The owner's rows are also compared in the database before
and after.

The floor first (each tool against another user's ids, the token tools), then the property-based sweep.
"""

import contextlib
import dataclasses
import datetime as dt
import itertools
import json
import random
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx2
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.shared.inbound import encode_header_value
from mcp.types import CallToolResult

from contract.tools import FOR_MODEL_META, TOKEN_TOOLS
from tests.mcp_server.support import spec, strategies
from tests.mcp_server.support.callers import (
    CONVERSATION_MISSING,
    NAMES_USER,
    SERVICE_ONLY,
    TASK_MISSING,
    TOKEN_MISSING,
    Callers,
    count,
    snapshot,
)
from tests.support import error_text, failed, mcp_client, ok, personal_token

pytestmark = [pytest.mark.anyio, pytest.mark.reliability]

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


class Clients:
    """The test's SDK clients, one per caller, opened on first use and kept until the test ends: `acting(user)` is
    the page's service token acting for `user`; `personal(token)` a personal access token."""

    def __init__(self, url: str, stack: contextlib.AsyncExitStack):
        self.url, self.stack = url, stack
        self.open: dict[tuple[str, str], Client] = {}

    async def acting(self, user: str) -> Client:
        return await self._get(("service", user), lambda: mcp_client(self.url, user=encode_header_value(user)))

    async def personal(self, token: str) -> Client:
        return await self._get(("personal", token), lambda: mcp_client(self.url, token=token))

    async def _get(self, key: tuple[str, str], opener: Callable[[], Any]) -> Client:
        if key not in self.open:
            self.open[key] = await self.stack.enter_async_context(opener())
        return self.open[key]


@pytest.fixture
async def clients(mcp_url: str) -> AsyncIterator[Clients]:
    async with contextlib.AsyncExitStack() as stack:
        yield Clients(mcp_url, stack)


async def probe(client: Client, tool: str, arguments: dict[str, Any]) -> CallToolResult:
    count("isolation", "probes")
    return await client.call_tool(tool, arguments)


def wire(result: CallToolResult) -> dict[str, Any]:
    """The whole answer as it went over the wire (is_error, content, structured content, meta)."""
    return result.model_dump(mode="json")


async def seed_tasks(client: Client, label: str, n: int) -> None:
    for i in range(1, n + 1):
        ok(
            await client.call_tool(
                "add_task",
                {
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
    clients: Clients, pg: psycopg.Connection, user_id: str
) -> None:
    owner, intruder = user_id, f"intruder-{user_id}"
    theirs, mine = await clients.acting(owner), await clients.acting(intruder)
    await seed_tasks(mine, "intruder", INTRUDER_TASKS)
    # The intruder both ways: the page acting for it, and its own personal access token.
    intruders = {"service": mine, "personal": await clients.personal(await personal_token(mine))}
    guesses = [*range(INTRUDER_TASKS + 1, OWNER_TASKS + 2), 2**31 - 1]

    # What the intruder hears for numbers nobody has yet...
    before_owner: dict[tuple[str, int, int], dict[str, Any]] = {}
    for (how, client), number, (index, (tool, extra)) in itertools.product(
        intruders.items(), guesses, enumerate(TASK_PROBES)
    ):
        result = await probe(client, tool, {"task_id": number, **extra})
        assert result.is_error and error_text(result) == TASK_MISSING.format(number), wire(result)
        before_owner[how, number, index] = wire(result)

    # ...must be exactly what it hears once the owner has tasks with those numbers (some done, one deleted).
    await seed_tasks(theirs, "owner", OWNER_TASKS)
    for number in (2, 5):
        ok(await theirs.call_tool("complete_task", {"task_id": number}))
    ok(await theirs.call_tool("delete_task", {"task_id": 7}))
    owner_rows = snapshot(pg, [owner]).users[owner]
    for (how, client), number, (index, (tool, extra)) in itertools.product(
        intruders.items(), guesses, enumerate(TASK_PROBES)
    ):
        result = await probe(client, tool, {"task_id": number, **extra})
        assert wire(result) == before_owner[how, number, index], f"task {number} of another user answers differently"

    # Strangers (look-alike ids, wildcards, injection) hear "does not exist" for every number of the owner's.
    for stranger in strangers(owner):
        client = await clients.acting(stranger)
        for number in range(1, OWNER_TASKS + 1):
            for tool, extra in TASK_PROBES:
                result = await probe(client, tool, {"task_id": number, **extra})
                assert result.is_error and error_text(result) == TASK_MISSING.format(number), (stranger, tool)

    # Numbers both users have: the intruder changes and deletes only its own tasks.
    for client in intruders.values():
        for number in range(1, INTRUDER_TASKS + 1):
            for tool, extra in TASK_PROBES:
                result = await probe(client, tool, {"task_id": number, **extra})
                assert not result.is_error or error_text(result) == TASK_MISSING.format(number), wire(result)
                if not result.is_error:
                    task = ok(result).get("task", ok(result))
                    assert task["title"].startswith(("intruder", "hijacked")), task

    # An idempotency key the owner used creates the intruder's own task, not a replay of the owner's.
    created = ok(await mine.call_tool("add_task", {"title": "mine", "idempotency_key": "key-4"}))
    assert created["title"] == "mine" and created["id"] == INTRUDER_TASKS + 1

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
    clients: Clients, pg: psycopg.Connection, user_id: str
) -> None:
    owner, intruder = user_id, f"intruder-{user_id}"
    theirs, mine = await clients.acting(owner), await clients.acting(intruder)
    await seed_tasks(theirs, "owner", OWNER_TASKS)
    await seed_tasks(mine, "intruder", INTRUDER_TASKS)
    ok(await theirs.call_tool("complete_task", {"task_id": 1}))
    ok(await mine.call_tool("complete_task", {"task_id": 1}))
    pat = await clients.personal(await personal_token(mine))
    others = [await clients.acting(stranger) for stranger in strangers(owner)]
    own = snapshot(pg, [intruder]).users[intruder].tasks
    for filters in LIST_FILTERS:
        result = await probe(mine, "list_tasks", filters)
        listed = ok(result)
        assert all(task["title"].startswith("intruder") for task in listed["tasks"]), (filters, listed)
        if "%" not in str(filters.get("search")) and "_" not in str(filters.get("search")):
            assert listed["total"] == matching_count(own, filters), (filters, listed["total"])
        # The intruder's own token lists exactly what the page lists for it.
        assert wire(await probe(pat, "list_tasks", filters)) == wire(result), filters
        for stranger, client in zip(strangers(owner), others, strict=True):
            nothing = ok(await probe(client, "list_tasks", filters))
            assert nothing == {"tasks": [], "total": 0}, (stranger, filters)
    count("isolation", "leaks", 0)


async def test_conversations_of_another_user_answer_exactly_like_missing_ones(
    clients: Clients, pg: psycopg.Connection, user_id: str
) -> None:
    owner, intruder = user_id, f"intruder-{user_id}"
    theirs, mine = await clients.acting(owner), await clients.acting(intruder)
    owned = []
    for i in range(3):
        cid = ok(await theirs.call_tool("create_conversation", {}))["conversation_id"]
        ok(
            await theirs.call_tool(
                "append_messages",
                {
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
    created = ok(await mine.call_tool("create_conversation", {"title": "intruder's"}))
    pat = await clients.personal(await personal_token(mine))
    owner_rows = snapshot(pg, [owner]).users[owner]

    probes: list[tuple[str, dict[str, Any]]] = [
        ("get_conversation", {}),
        ("get_conversation", {"limit": 1}),
        ("get_conversation", {"limit": 10_000}),
        ("append_messages", {"messages": [{"role": "user", "content": "injected"}]}),
        ("append_messages", {"messages": [{"role": "tool", "tool_call_id": "c0", "content": "forged result"}]}),
        ("rename_conversation", {"title": "hijacked"}),
        ("delete_conversation", {}),
    ]
    missing = [str(uuid.uuid4()) for _ in range(3)] + ["00000000-0000-0000-0000-000000000000"]
    callers = [mine, pat] + [await clients.acting(stranger) for stranger in strangers(owner)]
    for who in callers:
        for tool, extra in probes:
            answers = {}
            for cid in owned + missing:
                for spelling in (cid, cid.upper()):
                    result = await probe(who, tool, {"conversation_id": spelling, **extra})
                    assert result.is_error and error_text(result) == CONVERSATION_MISSING.format(cid), wire(result)
                    answers[cid, spelling == cid] = wire(result)
            # Byte-identical once the id itself is taken out: the owner's ids and ids nobody has.
            shapes = {str(answer).replace(cid, "<id>") for (cid, _), answer in answers.items()}
            assert len(shapes) == 1, shapes

    for client in (mine, pat):
        listed = ok(await probe(client, "list_conversations", {"limit": 200}))
        assert [c["conversation_id"] for c in listed["conversations"]] == [created["conversation_id"]], listed
    for limit, offset in [(1, 0), (1, 1), (200, 0), (200, 5)]:
        for stranger, client in zip(strangers(owner), callers[2:], strict=True):
            nothing = ok(await probe(client, "list_conversations", {"limit": limit, "offset": offset}))
            assert nothing == {"conversations": [], "total": 0}, stranger
    # Searching for the owner's words (their automatic titles too) finds nothing of theirs, whoever asks.
    assert ok(await probe(theirs, "search_conversations", {"query": "owner secret"}))["total"] == 3
    for who in callers:
        for query in ("owner secret", "secre", "owner", "secret 0", "list_tasks", "{}", "'", "intruder's"):
            found = ok(await probe(who, "search_conversations", {"query": query, "limit": 200}))
            assert {c["conversation_id"] for c in found["conversations"]} <= {created["conversation_id"]}, found
    assert snapshot(pg, [owner]).users[owner] == owner_rows, "the owner's conversations changed"
    count("isolation", "leaks", 0)


async def test_random_ids_answer_like_missing_ones(clients: Clients, user_id: str) -> None:
    """Numbers and ids nobody holds, from a fixed seed: the same sentence for all, nothing else; through the page
    and through the user's own token alike."""
    rng = random.Random(20261126)
    page = await clients.acting(user_id)
    await seed_tasks(page, "owner", 2)
    pat = await clients.personal(await personal_token(page))
    numbers = [rng.randrange(3, 2**31) for _ in range(25)]
    cids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(25)]
    for client in (page, pat):
        for number in numbers:
            for tool, extra in TASK_PROBES:
                result = await probe(client, tool, {"task_id": number, **extra})
                assert result.is_error and error_text(result) == TASK_MISSING.format(number), wire(result)
        for cid in cids:
            result = await probe(client, "get_conversation", {"conversation_id": cid})
            assert result.is_error and error_text(result) == CONVERSATION_MISSING.format(cid), wire(result)


# Personal access tokens

# A valid call of every data tool aimed at the owner's rows: {n} a task number of the owner's the intruder does
# not have, {cid} one of the owner's conversations.
AIMED: list[tuple[str, dict[str, Any]]] = [
    ("add_task", {"title": "planted"}),
    ("list_tasks", {"status": "all"}),
    ("complete_task", {"task_id": "{n}"}),
    ("reopen_task", {"task_id": "{n}"}),
    ("update_task", {"task_id": "{n}", "title": "hijacked"}),
    ("delete_task", {"task_id": "{n}"}),
    ("create_conversation", {"title": "planted"}),
    ("list_conversations", {}),
    ("get_conversation", {"conversation_id": "{cid}"}),
    ("append_messages", {"conversation_id": "{cid}", "messages": [{"role": "user", "content": "planted"}]}),
    ("rename_conversation", {"conversation_id": "{cid}", "title": "hijacked"}),
    ("search_conversations", {"query": "owner secret"}),
    ("delete_conversation", {"conversation_id": "{cid}"}),
]
RPC_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def aim(template: dict[str, Any], number: int, cid: str) -> dict[str, Any]:
    return {key: number if value == "{n}" else cid if value == "{cid}" else value for key, value in template.items()}


def rpc(method: str, params: dict[str, Any]) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()


def tool_call(tool: str, arguments: dict[str, Any]) -> bytes:
    return rpc("tools/call", {"name": tool, "arguments": arguments})


def unknown_user_id(tool: str, known: list[str]) -> str:
    return (
        f"Invalid arguments for {tool}: unknown argument 'user_id' (known: {', '.join(known)}). "
        "Nothing was changed; fix them and retry."
    )


async def test_a_personal_token_never_reaches_another_users_data(
    clients: Clients, pg: psycopg.Connection, mcp_url: str, user_id: str
) -> None:
    """The intruder's personal access token, against the owner's tasks, conversation and token: a `user_id`
    argument (the owner's, its own) is refused as unknown; an X-Todo-User header (naming anyone, or no one) gets
    HTTP 403 on every tool and tools/list; the owner's ids answer like missing ones; the credential's tools are
    hidden and refused; the owner's token keeps working; the intruder's token, once revoked, reaches nothing at
    once. The owner's rows, tokens included, never change; refused calls change nothing anywhere."""
    owner, intruder = user_id, f"intruder-{user_id}"
    theirs, mine = await clients.acting(owner), await clients.acting(intruder)
    await seed_tasks(theirs, "owner", OWNER_TASKS)
    ok(await theirs.call_tool("complete_task", {"task_id": 2}))
    ok(await theirs.call_tool("delete_task", {"task_id": 7}))
    cid = ok(await theirs.call_tool("create_conversation", {}))["conversation_id"]
    message = {"role": "user", "content": "owner secret"}
    ok(await theirs.call_tool("append_messages", {"conversation_id": cid, "messages": [message]}))
    owner_token = ok(await theirs.call_tool("create_access_token", {"name": "owner's"}))
    await seed_tasks(mine, "intruder", INTRUDER_TASKS)
    intruder_token = ok(await mine.call_tool("create_access_token", {"name": "intruder's"}))
    pat = await clients.personal(intruder_token["token"])
    owner_rows = snapshot(pg, [owner]).users[owner]
    number = OWNER_TASKS  # the owner's, not the intruder's

    def nothing_changed(before: Any, what: str) -> None:
        assert snapshot(pg, [owner, intruder]) == before, f"{what} changed the database"
        count("isolation", "personal_token_probes")

    # tools/list: the credential's tools hidden, the others there.
    tools = {tool.name: tool for tool in (await pat.list_tools()).tools}
    assert set(tools).isdisjoint(TOKEN_TOOLS) and {tool for tool, _ in AIMED} <= set(tools), sorted(tools)

    # The owner's ids answer like ids nobody has.
    for tool, template in AIMED:
        if "{n}" in template.values():
            result = await probe(pat, tool, aim(template, number, cid))
            assert error_text(result) == TASK_MISSING.format(number), wire(result)
        if "{cid}" in template.values():
            result = await probe(pat, tool, aim(template, number, cid))
            assert error_text(result) == CONVERSATION_MISSING.format(cid), wire(result)

    # A user_id argument, whoever it names: an unknown argument, refused, nothing changed.
    for tool, template in AIMED:
        for claimed in (owner, intruder, owner.upper(), "%"):
            before = snapshot(pg, [owner, intruder])
            result = await probe(pat, tool, {**aim(template, number, cid), "user_id": claimed})
            assert error_text(result) == unknown_user_id(tool, list(tools[tool].input_schema["properties"]))
            nothing_changed(before, f"{tool} with user_id={claimed!r}")

    # An X-Todo-User header, whoever (or whatever) it names: HTTP 403 before anything runs.
    calls = [tool_call(tool, aim(template, number, cid)) for tool, template in AIMED]
    calls += [tool_call(tool, {}) for tool in TOKEN_TOOLS] + [rpc("tools/list", {})]
    refusal = {"error": "insufficient_scope", "error_description": NAMES_USER}
    with httpx2.Client(headers={**RPC_HEADERS, "Authorization": f"Bearer {intruder_token['token']}"}) as http:
        for header in (owner, intruder, "", "%", encode_header_value(owner + "\u200b"), "x" * 321):
            for body in calls:
                before = snapshot(pg, [owner, intruder])
                response = http.post(mcp_url, content=body, headers={"X-Todo-User": header})
                assert response.status_code == 403 and response.json() == refusal, response.text[:300]
                nothing_changed(before, f"X-Todo-User {header!r} with a personal token")

    # The credential's tools, even on its own tokens: refused, nothing changed.
    for tool, arguments in [
        ("create_access_token", {"name": "minted"}),
        ("create_access_token", {"name": "minted", "user_id": owner}),
        ("list_access_tokens", {}),
        ("revoke_access_token", {"token_id": owner_token["token_id"]}),
        ("revoke_access_token", {"token_id": intruder_token["token_id"]}),
    ]:
        before = snapshot(pg, [owner, intruder])
        result = await probe(pat, tool, arguments)
        assert error_text(result) == SERVICE_ONLY.format(tool), wire(result)
        nothing_changed(before, f"{tool} with a personal token")

    # The owner's token still acts for the owner; the intruder's lists what the page lists for the intruder.
    theirs_listed = ok(await (await clients.personal(owner_token["token"])).call_tool("list_tasks", {"status": "all"}))
    assert [task["id"] for task in theirs_listed["tasks"]] == [n for n in range(1, OWNER_TASKS + 1) if n != 7]
    mine_listed = await probe(pat, "list_tasks", {"status": "all"})
    assert wire(mine_listed) == wire(await mine.call_tool("list_tasks", {"status": "all"}))
    assert [task["title"] for task in ok(mine_listed)["tasks"]] == [
        f"intruder task {i} common" for i in range(1, INTRUDER_TASKS + 1)
    ]

    # Revoked, the intruder's token reaches nothing, at once.
    ok(await mine.call_tool("revoke_access_token", {"token_id": intruder_token["token_id"]}))
    before = snapshot(pg, [owner, intruder])
    for body in calls:
        response = httpx2.post(
            mcp_url, content=body, headers={**RPC_HEADERS, "Authorization": f"Bearer {intruder_token['token']}"}
        )
        assert response.status_code == 401, response.text[:300]
    nothing_changed(before, "a revoked token")
    assert snapshot(pg, [owner]).users[owner] == owner_rows, "the owner's rows changed"
    count("isolation", "leaks", 0)


async def test_access_tokens_of_another_user_answer_exactly_like_missing_ones(
    clients: Clients, pg: psycopg.Connection, user_id: str
) -> None:
    """The page acting for the intruder (and for strangers) lists only its own tokens, and revoking one of the
    owner's answers byte-identically to revoking an id nobody has; the owner's tokens keep working."""
    owner, intruder = user_id, f"intruder-{user_id}"
    theirs, mine = await clients.acting(owner), await clients.acting(intruder)
    owned = [ok(await theirs.call_tool("create_access_token", {"name": f"owner {i}"})) for i in range(3)]
    ok(await theirs.call_tool("revoke_access_token", {"token_id": owned[2]["token_id"]}))
    own = ok(await mine.call_tool("create_access_token", {"name": "intruder's"}))
    owner_rows = snapshot(pg, [owner]).users[owner]
    missing = [str(uuid.uuid4()) for _ in range(3)]
    others = [await clients.acting(stranger) for stranger in strangers(owner)]
    for who in [mine, *others]:
        answers = {}
        for token_id in [token["token_id"] for token in owned] + missing:
            result = await probe(who, "revoke_access_token", {"token_id": token_id})
            assert result.is_error and error_text(result) == TOKEN_MISSING.format(token_id), wire(result)
            answers[token_id] = str(wire(result)).replace(token_id, "<id>")
        assert len(set(answers.values())) == 1, answers
    listed = ok(await probe(mine, "list_access_tokens", {}))
    assert [token["token_id"] for token in listed["tokens"]] == [own["token_id"]], listed
    for client in others:
        assert ok(await probe(client, "list_access_tokens", {})) == {"tokens": []}
    assert snapshot(pg, [owner]).users[owner] == owner_rows, "the owner's tokens changed"
    for token in owned[:2]:
        assert ok(await (await clients.personal(token["token"])).call_tool("list_tasks", {})) == {
            "tasks": [],
            "total": 0,
        }
    count("isolation", "leaks", 0)


# The property: whatever a personal token sends, aimed at another user's rows, it gets exactly the answer it gets
# for ids nobody has, and nothing changes anywhere.

OFFSET = 1_234_567_000  # task numbers nobody has: the owner's number + OFFSET


@dataclasses.dataclass(frozen=True)
class OwnersToken:
    """Placeholder: the owner's token id."""


class Victim:
    """One owner with tasks (one done, one deleted), two conversations with messages and a token; an intruder
    with nothing but a personal access token, and one raw HTTP client for it, reused by every example."""

    def __init__(self, callers: Callers, pg: psycopg.Connection, mcp_url: str):
        self.pg, self.url = pg, mcp_url
        run = uuid.uuid4().hex[:10]
        self.owner, self.intruder = f"victim-{run}@example.com", f"pat-intruder-{run}@example.com"
        page = callers[self.owner]
        for i in range(1, 7):
            page.add_task(f"victim secret {i}", description="victim secret", tags=["secret"])
        page.complete_task(2)
        page.delete_task(4)
        for i in range(2):
            cid = page.create_conversation().conversation_id
            page.call_tool(
                "append_messages",
                {"conversation_id": str(cid), "messages": [{"role": "user", "content": f"victim secret {i}"}]},
            )
        self.token_id = str(page.create_access_token("victim's").token_id)
        state = snapshot(pg, [self.owner]).users[self.owner]
        self.tasks, self.counter = sorted(state.tasks), state.counter or 0
        self.conversations = sorted(str(cid) for cid in state.conversations)
        self.nobodys = [str(uuid.uuid4()) for _ in self.conversations]
        self.nobodys_token = str(uuid.uuid4())
        token = callers[self.intruder].create_access_token("intruder's").token
        self.http = httpx2.Client(headers={**RPC_HEADERS, "Authorization": f"Bearer {token}"}, timeout=30)

    def aim(self, value: Any, *, at_owner: bool) -> Any:
        """Drawn arguments with their placeholders made the owner's ids, or ids nobody has in their place."""
        shift = 0 if at_owner else OFFSET
        conversations = self.conversations if at_owner else self.nobodys
        if isinstance(value, strategies.ExistingTask):
            return self.tasks[value.index % len(self.tasks)] + shift
        if isinstance(value, strategies.UsedNumber):
            return value.index % self.counter + 1 + shift
        if isinstance(value, strategies.FreshNumber):
            return self.counter + value.offset + shift
        if isinstance(value, strategies.ExistingConversation):
            return strategies.SPELLINGS[value.spelling](conversations[value.index % len(conversations)])
        if isinstance(value, OwnersToken):
            return self.token_id if at_owner else self.nobodys_token
        if isinstance(value, dict):
            return {key: self.aim(item, at_owner=at_owner) for key, item in value.items()}
        return value

    def as_if_owners(self, body: str) -> str:
        """An answer about ids nobody has, with those ids put back to the owner's."""
        for owners, nobodys in [
            *zip(self.conversations, self.nobodys, strict=True),
            (self.token_id, self.nobodys_token),
        ]:
            body = body.replace(nobodys, owners)
        return re.sub(r"\b1234\d{6}\b", lambda m: str(int(m[0]) - OFFSET) if int(m[0]) > OFFSET else m[0], body)

    def post(self, tool: str, arguments: dict[str, Any], header: str | None) -> tuple[int, str]:
        response = self.http.post(
            self.url, content=tool_call(tool, arguments), headers={} if header is None else {"X-Todo-User": header}
        )
        return response.status_code, response.text


def masked(answer: str) -> str:
    """An answer with the position of a JSON parse error taken out (it moves with the length of the ids sent)."""
    return re.sub(r"at line \d+ column \d+", "at line L column C", answer)


@pytest.fixture
def victim(callers: Callers, pg: psycopg.Connection, mcp_url: str) -> Iterator[Victim]:
    world = Victim(callers, pg, mcp_url)
    yield world
    world.http.close()


def token_arguments(tool: str) -> st.SearchStrategy[dict[str, Any]]:
    if tool == "create_access_token":
        return st.fixed_dictionaries({"name": strategies.junk()}, optional={"expires_in_days": strategies.numbers()})
    if tool == "revoke_access_token":
        return st.fixed_dictionaries(
            {"token_id": st.one_of(st.just(OwnersToken()), st.uuids().map(str), strategies.junk())}
        )
    return st.just({})


CREATES = {"add_task", "create_conversation"}
AIMED_BY_ID = [
    tool for tool, params in spec.TOOLS.items() if {"task_id", "conversation_id"} & set(params)
]  # the only tools that could write the intruder's own rows


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_whatever_a_personal_token_sends_it_reaches_nothing_of_another_user(
    victim: Victim, data: st.DataObject
) -> None:
    tool = data.draw(st.sampled_from([*spec.TOOLS, *TOKEN_TOOLS, *AIMED_BY_ID, *AIMED_BY_ID]), label="tool")
    if tool in TOKEN_TOOLS:
        drawn = data.draw(token_arguments(tool), label="arguments")
    else:
        drawn = data.draw(strategies.tool_arguments(tool, victim.owner), label="arguments")
    if data.draw(st.integers(0, 5), label="claims a user") == 0:
        drawn["user_id"] = data.draw(st.sampled_from([victim.owner, victim.intruder, victim.owner.upper(), "%"]))
    headers = [victim.owner, victim.intruder, "", "%", "x" * 321, encode_header_value(victim.owner + " ")]
    header = data.draw(
        st.integers(0, 5).flatmap(lambda n: st.none() if n else st.sampled_from(headers)), label="X-Todo-User"
    )
    if tool in CREATES and header is None and "user_id" not in drawn:
        drawn["user_id"] = victim.owner  # else a valid call would write the intruder's own row: see the floor
    at_owner, at_nobody = victim.aim(drawn, at_owner=True), victim.aim(drawn, at_owner=False)

    before = snapshot(victim.pg, [victim.owner, victim.intruder])
    status, answer = victim.post(tool, at_owner, header)
    baseline = victim.post(tool, at_nobody, header)
    after = snapshot(victim.pg, [victim.owner, victim.intruder])
    context = f"\n{tool}({at_owner!r}) with X-Todo-User {header!r}\n-> {status} {answer[:400]}"
    count("isolation", "personal_token_property_probes")

    assert after == before, f"a personal token changed the database:{context}"
    assert status < 500, f"a 5xx:{context}"
    assert (status, masked(answer)) == (baseline[0], masked(victim.as_if_owners(baseline[1]))), (
        f"the owner's ids answer differently from ids nobody has:{context}\nnobody's: {baseline}"
    )
    assert "victim secret" not in answer, f"the owner's data in the answer:{context}"
    if status == 400 and json.loads(answer).get("error", {}).get("code") == -32700:
        count("isolation", "personal_token_property_unparsable")  # a lone surrogate: JSON-RPC refuses the body
        return
    if header is not None:
        assert status == 403 and json.loads(answer)["error_description"] == NAMES_USER, context
        count("isolation", "personal_token_property_x_todo_user_403")
        return
    assert status == 200, context
    result = json.loads(answer)["result"]
    text = " ".join(block.get("text", "") for block in result["content"])
    if tool in TOKEN_TOOLS:
        assert result["isError"] and text == SERVICE_ONLY.format(tool), context
        count("isolation", "personal_token_property_service_only_refused")
    elif "user_id" in drawn:
        assert result["isError"] and text.startswith(f"Invalid arguments for {tool}: unknown argument"), context
        assert "'user_id'" in text.split(" (known: ")[0], context
        count("isolation", "personal_token_property_user_id_refused")
    elif not result["isError"]:
        assert tool in ("list_tasks", "list_conversations", "search_conversations"), (
            f"a call of the intruder's succeeded:{context}"
        )
        assert result["structuredContent"] in ({"tasks": [], "total": 0}, {"conversations": [], "total": 0}), context
        count("isolation", "personal_token_property_empty_listing")
    elif "does not exist" in text:
        count("isolation", "personal_token_property_owners_id_missing")
    else:
        count("isolation", "personal_token_property_invalid")
    assert not text.startswith("Error executing tool"), context


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
        ("rename_conversation", {"title": "hijacked"}),
    ]:
        foreign = await intruder.call_tool(tool, {"conversation_id": cid, **extra})
        missing = await intruder.call_tool(tool, {"conversation_id": missing_id, **extra})
        assert foreign.is_error and missing.is_error
        assert error_text(foreign).replace(cid, "ID") == error_text(missing).replace(missing_id, "ID")
    assert ok(await intruder.call_tool("list_conversations", {}))["total"] == 0
    assert ok(await intruder.call_tool("search_conversations", {"query": "secret"})) == {
        "conversations": [],
        "total": 0,
    }
    conversation = ok(await client.call_tool("get_conversation", {"conversation_id": cid}))
    assert [m["content"] for m in conversation["messages"]] == ["secret"] and conversation["title"] == "Secret"
    assert [
        c["conversation_id"]
        for c in ok(await client.call_tool("search_conversations", {"query": "secret"}))["conversations"]
    ] == [cid]


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
    assert len(tools) == 16
    for tool in tools:
        assert properties_named(tool.input_schema, "user_id") == [], tool.name
        assert "user_id" not in tool.input_schema.get("required", []), tool.name


async def test_the_token_tools_are_listed_for_the_service_credential_only(client: Client, mcp_url: str) -> None:
    service = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(service) >= set(TOKEN_TOOLS)
    async with mcp_client(mcp_url, await personal_token(client)) as personal_client:
        personal = {tool.name for tool in (await personal_client.list_tools()).tools}
    assert personal.isdisjoint(TOKEN_TOOLS)
    assert personal == set(service) - set(TOKEN_TOOLS), "a personal token sees every other tool"
    for name in TOKEN_TOOLS:
        assert FOR_MODEL_META not in (service[name].meta or {}), f"{name} is never offered to a model"
