"""Tool-call latency over HTTP + Postgres at 1, 10 and 100 concurrent clients, beside the raw SQL floor.

Starts a real PostgreSQL and `python -m mcp_server` as its own process, then each client (its own user, named
with the page's service token in X-Todo-User; all sharing one pool of keep-alive connections) runs add_task, list_tasks, complete_task in turn. The floor runs the same statements
with psycopg directly, at the same concurrency, in the same run.
"""

import argparse
import asyncio
import os
import time
from collections import defaultdict
from typing import Any

import httpx2
import psycopg
from mcp.shared.inbound import MCP_METHOD_HEADER, MCP_NAME_HEADER, MCP_PROTOCOL_VERSION_HEADER

from app.client import PROTOCOL_VERSION, REQUEST_META, USER_HEADER
from bench.common import SERVICE_TOKEN as TOKEN
from bench.common import running_stack
from bench.stats import HEADER, Summary, summarize
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


def report(title: str, summaries: list[Summary]) -> None:
    print(f"\n{title}\n{HEADER}")
    for summary in summaries:
        print(summary.row())


async def run(levels: list[int], calls_per_level: int, workers: int) -> None:
    with running_stack(workers) as (database_url, base):
        await tool_round(f"{base}/mcp", 4, 10)  # warm-up: imports, pool, plans
        print(
            f"\nTool-call latency: MCP over HTTP + Postgres vs raw SQL "
            f"({workers} server process(es), machine: {os.cpu_count()} cores)"
        )
        for clients in levels:
            rounds = max(1, calls_per_level // (clients * len(OPERATIONS)))
            tools, tool_errors, tool_wall = await tool_round(f"{base}/mcp", clients, rounds)
            sql, _, sql_wall = await sql_round(database_url, clients, rounds)
            all_tools = [x for name in OPERATIONS for x in tools[name]]
            all_sql = [x for name in OPERATIONS for x in sql[name]]
            tool_rows = [summarize(f"tool {n}", tools[n], 0, tool_wall) for n in OPERATIONS]
            tool_rows.append(summarize("tool, all", all_tools, tool_errors, tool_wall))
            sql_rows = [summarize(f"SQL floor {n}", sql[n], 0, sql_wall) for n in OPERATIONS]
            sql_rows.append(summarize("SQL floor, all", all_sql, 0, sql_wall))
            report(f"### {clients} concurrent client(s), {rounds} rounds each", tool_rows + sql_rows)
            ratio = tool_rows[-1].p50 / sql_rows[-1].p50
            print(f"p50 ratio tool / SQL floor: {ratio:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--levels", default="1,10,100", help="concurrent clients per level, comma-separated")
    parser.add_argument("--calls", type=int, default=3000, help="tool calls per level")
    parser.add_argument("--workers", default="1,2", help="server processes to compare, comma-separated")
    args = parser.parse_args()
    for workers in (int(x) for x in args.workers.split(",")):
        asyncio.run(run([int(x) for x in args.levels.split(",")], args.calls, workers))


if __name__ == "__main__":
    main()
