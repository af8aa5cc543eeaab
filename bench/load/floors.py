"""The floors bench.load reports beside its chat figures, and bench.server beside its tool points: tool calls from
a thin Python client over HTTP (`tool_round`: each client its own user, named with the page's service token in
X-Todo-User, running add_task, list_tasks, complete_task in turn), and the same statements through psycopg
directly (`sql_round`, and the SQL below).
"""

import asyncio
import time
from collections import defaultdict
from typing import Any

import httpx2
import psycopg
from mcp.shared.inbound import MCP_METHOD_HEADER, MCP_NAME_HEADER, MCP_PROTOCOL_VERSION_HEADER

from app.client import PROTOCOL_VERSION, REQUEST_META, USER_HEADER
from bench.common import SERVICE_TOKEN as TOKEN
from contract.tools import ADD_TASK, COMPLETE_TASK, LIST_TASKS

OPERATIONS = (ADD_TASK, LIST_TASKS, COMPLETE_TASK)


class WireClient:
    """A thin async MCP client speaking what app.client.McpConnection sends (protocol 2026-07-28: each request
    stands alone), as a server sees any client; asyncio, so that 100 clients cost the load generator little of
    the CPU that this 2-core machine shares with the server under test. It acts for `user` with the page's
    service token, as the page does (the X-Todo-User header; no tool takes a user argument)."""

    def __init__(self, url: str, http: httpx2.AsyncClient, user: str):
        self.url, self.http, self.next_id = url, http, 0
        self.headers = {
            "Authorization": f"Bearer {TOKEN}",
            USER_HEADER: user,
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            MCP_PROTOCOL_VERSION_HEADER: PROTOCOL_VERSION,
            MCP_METHOD_HEADER: "tools/call",
        }

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> bool:
        """True when the call succeeded."""
        self.next_id += 1
        params = {"name": name, "arguments": arguments, "_meta": REQUEST_META}
        body = {"jsonrpc": "2.0", "id": self.next_id, "method": "tools/call", "params": params}
        response = await self.http.post(self.url, json=body, headers={**self.headers, MCP_NAME_HEADER: name})
        response.raise_for_status()
        answer = response.json()
        return "result" in answer and not answer["result"].get("isError")


async def tool_round(url: str, clients: int, rounds: int) -> tuple[dict[str, list[float]], int, float]:
    latencies: dict[str, list[float]] = defaultdict(list)
    errors = 0

    async def worker(index: int, http: httpx2.AsyncClient) -> None:
        nonlocal errors
        user = f"bench-{clients}-{index}-{time.monotonic_ns()}"
        client = WireClient(url, http, user)
        for number in range(1, rounds + 1):
            for name, arguments in (
                (ADD_TASK, {"title": f"task {number}", "priority": "high", "tags": ["bench"]}),
                (LIST_TASKS, {"limit": 20}),
                (COMPLETE_TASK, {"task_id": number}),
            ):
                started = time.perf_counter()
                try:
                    succeeded = await client.call_tool(name, arguments)
                except httpx2.HTTPError:
                    succeeded = False
                if succeeded:
                    latencies[name].append(time.perf_counter() - started)
                else:
                    errors += 1

    limits = httpx2.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx2.AsyncClient(timeout=30, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(i, http) for i in range(clients)))
        return latencies, errors, time.perf_counter() - started


ADD_SQL = [
    (
        "INSERT INTO user_counters (user_id, last_task_number) VALUES (%s, 1) ON CONFLICT (user_id) "
        "DO UPDATE SET last_task_number = user_counters.last_task_number + 1 RETURNING last_task_number"
    ),
    ("INSERT INTO tasks (user_id, number, title, priority, tags) VALUES (%s, %s, %s, 'high', '{bench}') RETURNING *"),
]
LIST_SQL = "SELECT *, count(*) OVER () FROM tasks WHERE user_id = %s AND completed = false ORDER BY number LIMIT 20"
COMPLETE_SQL = (
    "UPDATE tasks SET completed = true, completed_at = now(), updated_at = now() "
    "WHERE user_id = %s AND number = %s RETURNING *"
)


async def sql_round(dsn: str, clients: int, rounds: int) -> tuple[dict[str, list[float]], int, float]:
    latencies: dict[str, list[float]] = defaultdict(list)

    async def worker(index: int) -> None:
        user = f"floor-{clients}-{index}"
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            for _ in range(rounds):
                started = time.perf_counter()
                async with conn.transaction():
                    number = (await (await conn.execute(ADD_SQL[0], (user,))).fetchone())[0]  # type: ignore[index]
                    await conn.execute(ADD_SQL[1], (user, number, f"task {number}"))
                latencies[ADD_TASK].append(time.perf_counter() - started)
                started = time.perf_counter()
                async with conn.transaction():
                    await (await conn.execute(LIST_SQL, (user,))).fetchall()
                latencies[LIST_TASKS].append(time.perf_counter() - started)
                started = time.perf_counter()
                async with conn.transaction():
                    await conn.execute(COMPLETE_SQL, (user, number))
                latencies[COMPLETE_TASK].append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(clients)))
    return latencies, 0, time.perf_counter() - started
