"""The MCP server's own cost per tool call, measured with a load generator that costs far less than the server.

`python -m bench.server` starts a real PostgreSQL and `python -m mcp_server`, in each way `--servers` names, and
drives each in turn with bench/server_load/loadgen.mjs: N closed-loop workers in one Node process
(node: built-ins only), each its own user on its own keep-alive connection, sending exactly what the page's
client (app/client.py) sends: the headers and `_meta` are built here from its constants and handed over as
JSON. Every answer is checked (HTTP 200, the request's id, a result that is not isError, a task or a task list
of the expected shape); any failed answer is printed and the run exits non-zero.

Per point (tool x connections), over the measured window only (the load generator prints "measuring" after its
warm-up and "done" at the end; /proc and Postgres are read at both lines):
- calls/s and latency percentiles (the load generator's, nearest rank);
- the server's CPU per call: user + system time of the server process and every descendant (MCP_WORKERS=2
  forks workers), plus what they have reaped;
- Postgres's CPU per call: the postmaster and every child (backends, WAL writer, checkpointer, ...) plus the
  postmaster's reaped children (backends that exited);
- the load generator's own CPU per call (process.cpuUsage() over the same window), to show it is small;
- new Postgres sessions per 1,000 calls (connections the server opened within the window: each one a new
  backend process): pg_stat_database.sessions before and after, read from a connection opened before the run
  with stats_fetch_consistency = none. A backend's first statistics flush is not rate-limited: a new session
  shows in the next read at once (checked: see Sampler), so no settling sleep is needed.

list_tasks runs against users that each added LIST_SEED tasks first (before the warm-up), so that it returns a
full page of 20. Floors in the same run, at the same connections: the HTTP floor (GET /healthz through the same
load generator: uvicorn and Starlette, no MCP, no auth, no database) and the raw SQL floor (the same statements
through psycopg directly, an asyncio client in this process: its calls/s are this client's, its Postgres CPU per
call is the database's floor).

A way of serving is `[DIR][:wN][:rN]`: the checkout DIR (default: this one; another is how "before" figures are
taken in the same run), MCP_WORKERS=N (default 1), N replicas (default 1: separate server processes side by side,
each with its own pool, the connections spread over them as a Kubernetes Service would). Every way runs at the same
time on the same Postgres and is loaded in turn, point by point (tool x connections x way), so that a slower
stretch of a noisy machine falls on all of them alike; `--rounds N` runs every point N times, interleaved, and
prints the medians.

    python -m bench.server [--tools list_tasks,add_task] [--connections 1,10,100] [--duration 20] [--warmup 3]
                           [--servers .] [--rounds 1] [--floor-duration 3]
    python -m bench.server --servers /tmp/before,.          # the same points, from another checkout and this one
    python -m bench.server --servers .:w1,.:w2,.:r2         # one process, MCP_WORKERS=2, two replicas
"""

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from mcp.shared.inbound import (
    MCP_METHOD_HEADER,
    MCP_NAME_HEADER,
    MCP_PROTOCOL_VERSION_HEADER,
    encode_header_value,
)

from app.client import PROTOCOL_VERSION, REQUEST_META, USER_HEADER
from bench.common import SERVICE_TOKEN as TOKEN
from bench.common import code_version
from bench.load.cpu import process_table
from bench.load.floors import ADD_SQL, LIST_SQL
from bench.stats import percentile
from contract.tools import ADD_TASK, LIST_TASKS
from devtools.postgres import LocalPostgres
from devtools.servers import McpProcess
from mcp_server.db import Database
from mcp_server.migrate import upgrade
from mcp_server.settings import sqlalchemy_url

ROOT = Path(__file__).resolve().parent.parent
LOADGEN = Path(__file__).resolve().parent / "server_load" / "loadgen.mjs"
TOOLS = (LIST_TASKS, ADD_TASK)
HEALTHZ = "healthz"
LIST_SEED = 20  # tasks each list_tasks user adds first: list_tasks {"limit": 20} answers a full page


# The stack


@dataclass(frozen=True)
class Way:
    """One way of serving the tools (see the top): a checkout, MCP_WORKERS, replicas."""

    root: Path
    workers: int = 1
    replicas: int = 1

    @classmethod
    def parse(cls, text: str) -> "Way":
        """`[DIR][:wN][:rN]`, e.g. `.`, `.:w2`, `/tmp/before:r2`."""
        folder, *options = text.split(":")
        root = Path(folder or ".").resolve()
        if not (root / "mcp_server" / "__main__.py").is_file():
            raise ValueError(f"{folder or '.'} is not a checkout of this project (no mcp_server/__main__.py)")
        counts = {"w": 1, "r": 1}
        for option in options:
            if option[:1] not in counts or not option[1:].isdigit() or int(option[1:]) < 1:
                raise ValueError(f"{option!r} in {text!r}: write wN (MCP_WORKERS) or rN (replicas), N >= 1")
            counts[option[0]] = int(option[1:])
        return cls(root, counts["w"], counts["r"])

    @property
    def label(self) -> str:
        where = "this checkout" if self.root == ROOT else str(self.root)
        return f"{where}, {self.workers} worker(s) x {self.replicas} replica(s)"


@dataclass
class Served:
    way: Way
    urls: list[str]
    pids: list[int]  # each replica's main process (its workers are its children)


@dataclass(frozen=True)
class Stack:
    database_url: str
    postmaster_pid: int
    served: list[Served]


@contextlib.contextmanager
def server_stack(ways: list[Way]) -> Iterator[Stack]:
    """A PostgreSQL and, on it, every way's server processes, started together."""
    with (
        tempfile.TemporaryDirectory(prefix="todo-bench-") as folder,
        LocalPostgres(Path(folder) / "pg") as pg,
        contextlib.ExitStack() as processes,
    ):
        db = Database(sqlalchemy_url(pg.url))
        upgrade(db.engine)
        db.dispose()
        replicas = {
            way: [
                McpProcess(pg.url, service_token=TOKEN, own_output=True, root=way.root, MCP_WORKERS=str(way.workers))
                for _ in range(way.replicas)
            ]
            for way in ways
        }
        for process in (p for group in replicas.values() for p in group):
            processes.enter_context(contextlib.closing(process.launch()))
        for process in (p for group in replicas.values() for p in group):
            process.wait_ready()
        served = [
            Served(way, [p.url for p in group], [p.process.pid for p in group if p.process is not None])
            for way, group in replicas.items()
        ]
        postmaster = int((pg.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        yield Stack(pg.url, postmaster, served)


def tree_cpu(table: dict[int, tuple[int, float, float]], root: int) -> float:
    """CPU seconds of `root` and every descendant alive, plus those they have reaped."""
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    pids, total = [root], 0.0
    for pid in pids:  # grows while walking
        if pid in table:
            total += table[pid][1] + table[pid][2]
        pids.extend(children.get(pid, []))
    return total


@dataclass(frozen=True)
class Sample:
    at: float
    server_cpu: float
    postgres_cpu: float
    sessions: int


class Sampler:
    """Reads the server's and Postgres's CPU and Postgres's session count, at the edges of a measured window.

    The session count is pg_stat_database.sessions, read with stats_fetch_consistency = none so that every read
    is current. Checked on PostgreSQL 18: five new connections show at once in the next read, whether they closed,
    sit idle after a query, sit in a transaction, or only connected."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.conn = psycopg.connect(stack.database_url, autocommit=True)
        self.conn.execute("SET stats_fetch_consistency = none")

    def sessions(self) -> int:
        row = self.conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()").fetchone()
        assert row is not None
        return int(row[0])

    def sample(self, server_pids: list[int]) -> Sample:
        table = process_table()
        at = time.perf_counter()
        return Sample(
            at,
            sum(tree_cpu(table, pid) for pid in server_pids),
            tree_cpu(table, self.stack.postmaster_pid),
            self.sessions(),
        )

    def close(self) -> None:
        self.conn.close()


# One point


@dataclass
class Point:
    name: str
    connections: int
    calls: int
    errors: int
    per_second: float
    p50: float
    p95: float
    p99: float
    server_ms: float | None  # CPU per call
    postgres_ms: float
    client_ms: float
    new_sessions: int
    problem: str | None  # None when every answer passed its check

    def row(self) -> str:
        def ms(x: float | None) -> str:
            return "–" if x is None else f"{x:.3f}"

        per_1000 = 1000 * self.new_sessions / self.calls if self.calls else float("nan")
        return (
            f"| {self.name} | {self.connections} | {self.calls} | {self.per_second:.0f} | {self.p50:.2f} "
            f"| {self.p95:.2f} | {self.p99:.2f} | {ms(self.server_ms)} | {ms(self.postgres_ms)} | {ms(self.client_ms)} "
            f"| {per_1000:.1f} | {self.errors} |"
        )


HEADER = (
    "| point | connections | calls | calls/s | p50 ms | p95 ms | p99 ms | server CPU ms/call | Postgres CPU ms/call "
    "| client CPU ms/call | new PG sessions /1000 calls | errors |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def tool_headers(name: str) -> dict[str, str]:
    """What app.client.McpConnection sends with a tools/call of `name`, but the user header."""
    return {
        "Authorization": f"Bearer {TOKEN}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        MCP_PROTOCOL_VERSION_HEADER: PROTOCOL_VERSION,
        MCP_METHOD_HEADER: "tools/call",
        MCP_NAME_HEADER: encode_header_value(name),
    }


def loadgen_config(
    urls: list[str], tool: str, connections: int, duration: float, warmup: float, user_prefix: str, seed: int = 0
) -> dict[str, Any]:
    """loadgen.mjs's argument (see the top of that file)."""
    return {
        "urls": urls,
        "tool": tool,
        "connections": connections,
        "duration": duration,
        "warmup": warmup,
        "seed": seed,
        "headers": {name: tool_headers(name) for name in TOOLS},
        "user_header": USER_HEADER,
        "user_prefix": user_prefix,
        "meta": REQUEST_META,
    }


def node() -> str:
    found = shutil.which("node") or ("/usr/bin/node" if Path("/usr/bin/node").exists() else None)
    if found is None:
        raise RuntimeError("bench.server needs node (20 or later) on PATH")
    return found


def run_loadgen(
    config: dict[str, Any],
    at_measuring: Callable[[], None] | None = None,
    at_done: Callable[[], None] | None = None,
    timeout: float = 300,
) -> dict[str, Any]:
    """Run loadgen.mjs with `config`; call at_measuring() and at_done() on its lines; its final JSON report."""
    process = subprocess.Popen([node(), str(LOADGEN), json.dumps(config)], stdout=subprocess.PIPE, text=True)
    killer = threading.Timer(timeout, process.kill)  # a hung run ends, and fails below
    killer.start()
    report: dict[str, Any] | None = None
    try:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.strip()
            if line == "measuring" and at_measuring is not None:
                at_measuring()
            elif line == "done" and at_done is not None:
                at_done()
            elif line.startswith("{"):
                report = json.loads(line)
        status = process.wait()
    finally:
        killer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    if report is None or status not in (0, 1):
        raise RuntimeError(f"loadgen.mjs exited with status {status} without its report")
    return report


def failures(report: dict[str, Any]) -> str | None:
    """None when every answer passed its check; else what went wrong (the load generator's first samples)."""
    if report["errors"] == 0 and report["calls"] > 0:
        return None
    if report["errors"] == 0:
        return f"{report['tool']} at {report['connections']} connection(s): no call completed"
    samples = "\n".join(f"  {json.dumps(sample)}" for sample in report["error_samples"])
    return f"{report['tool']} at {report['connections']} connection(s): {report['errors']} failed answers\n{samples}"


def load_point(
    sampler: Sampler, name: str, served: Served, tool: str, connections: int, duration: float, warmup: float
) -> Point:
    samples: list[Sample] = []
    seed = LIST_SEED if tool == LIST_TASKS else 0
    prefix = f"bench-{tool}-{connections}-{uuid.uuid4().hex[:8]}"
    config = loadgen_config(served.urls, tool, connections, duration, warmup, prefix, seed)
    timeout = warmup + duration + 120 + seed * connections / 50

    def take() -> None:
        samples.append(sampler.sample(served.pids))

    report = run_loadgen(config, take, take, timeout)
    if len(samples) != 2:
        raise RuntimeError(f"loadgen.mjs printed {len(samples)} of its 'measuring' and 'done' lines")
    before, after = samples
    calls = report["calls"]

    def per_call(seconds: float) -> float:
        return 1000 * seconds / calls if calls else float("nan")

    return Point(
        name=name,
        connections=connections,
        calls=calls,
        errors=report["errors"],
        per_second=report["calls_per_s"],
        p50=report["p50_ms"] or float("nan"),
        p95=report["p95_ms"] or float("nan"),
        p99=report["p99_ms"] or float("nan"),
        server_ms=per_call(after.server_cpu - before.server_cpu),
        postgres_ms=per_call(after.postgres_cpu - before.postgres_cpu),
        client_ms=report["cpu_ms_per_call"] or float("nan"),
        new_sessions=after.sessions - before.sessions,
        problem=failures(report),
    )


# The raw SQL floor


async def sql_floor(sampler: Sampler, tool: str, connections: int, duration: float, warmup: float) -> Point:
    """The statements of `tool` through psycopg on `connections` connections, each its own user."""
    dsn = sampler.stack.database_url
    run = uuid.uuid4().hex[:8]
    conns = [await psycopg.AsyncConnection.connect(dsn) for _ in range(connections)]
    latencies: list[float] = []
    phase = "warmup"
    seeded, all_seeded = 0, asyncio.Event()

    async def add(conn: psycopg.AsyncConnection[Any], user: str) -> None:
        async with conn.transaction():
            number = (await (await conn.execute(ADD_SQL[0], (user,))).fetchone())[0]  # type: ignore[index]
            await (await conn.execute(ADD_SQL[1], (user, number, f"task {number}"))).fetchone()

    async def worker(index: int, conn: psycopg.AsyncConnection[Any]) -> None:
        user = f"floor-{tool}-{connections}-{run}-{index}"
        nonlocal seeded
        if tool == LIST_TASKS:
            for _ in range(LIST_SEED):
                await add(conn, user)
        seeded += 1
        if seeded == connections:
            all_seeded.set()
        while phase != "stop":
            started = time.perf_counter()
            if tool == ADD_TASK:
                await add(conn, user)
            else:
                async with conn.transaction():
                    await (await conn.execute(LIST_SQL, (user,))).fetchall()
            if phase == "measure":
                latencies.append(time.perf_counter() - started)

    try:
        running = asyncio.gather(*(worker(i, conn) for i, conn in enumerate(conns)))
        await all_seeded.wait()
        await asyncio.sleep(warmup)
        before = sampler.sample([])  # blocks the loop: no call completes while it reads
        client_before = time.process_time()
        phase = "measure"
        await asyncio.sleep(duration)
        phase = "stop"
        client_cpu = time.process_time() - client_before
        after = sampler.sample([])
        await running
    finally:
        for conn in conns:
            await conn.close()
    calls, wall = len(latencies), after.at - before.at
    ms = sorted(x * 1000 for x in latencies)
    return Point(
        name=f"SQL floor {tool}",
        connections=connections,
        calls=calls,
        errors=0,
        per_second=calls / wall,
        p50=percentile(ms, 0.50),
        p95=percentile(ms, 0.95),
        p99=percentile(ms, 0.99),
        server_ms=None,
        postgres_ms=1000 * (after.postgres_cpu - before.postgres_cpu) / calls if calls else float("nan"),
        client_ms=1000 * client_cpu / calls if calls else float("nan"),
        new_sessions=after.sessions - before.sessions,
        problem=None if calls else f"SQL floor {tool} at {connections} connection(s): no call completed",
    )


# The run


def medians(points: list[Point]) -> list[Point]:
    """One point per name and connections: the median of each figure over its rounds (calls, errors and new
    sessions summed), in the order first seen."""
    groups: dict[tuple[str, int], list[Point]] = {}
    for point in points:
        groups.setdefault((point.name, point.connections), []).append(point)

    merged = []
    for group in groups.values():
        first = group[0]
        servers = [p.server_ms for p in group if p.server_ms is not None]
        merged.append(
            Point(
                name=first.name,
                connections=first.connections,
                calls=sum(p.calls for p in group),
                errors=sum(p.errors for p in group),
                per_second=statistics.median([p.per_second for p in group]),
                p50=statistics.median([p.p50 for p in group]),
                p95=statistics.median([p.p95 for p in group]),
                p99=statistics.median([p.p99 for p in group]),
                server_ms=statistics.median(servers) if servers else None,
                postgres_ms=statistics.median([p.postgres_ms for p in group]),
                client_ms=statistics.median([p.client_ms for p in group]),
                new_sessions=sum(p.new_sessions for p in group),
                problem="; ".join(p.problem for p in group if p.problem is not None) or None,
            )
        )
    return merged


def run(args: argparse.Namespace, ways: list[Way]) -> list[Point]:
    tools = [x for x in args.tools.split(",") if x]
    levels = [int(x) for x in args.connections.split(",")]
    floor_warmup = min(args.warmup, 1.0)
    points: list[Point] = []
    with server_stack(ways) as stack:
        sampler = Sampler(stack)
        try:
            rounds: list[Point] = []
            for _ in range(args.rounds):
                for tool in tools:
                    for connections in levels:
                        for served in stack.served:
                            name = f"tool {tool}" + (f" ({served.way.label})" if len(ways) > 1 else "")
                            point = load_point(sampler, name, served, tool, connections, args.duration, args.warmup)
                            rounds.append(point)
            points += medians(rounds)
            first = stack.served[0]
            for connections in levels:
                point = load_point(
                    sampler, "HTTP floor GET /healthz", first, HEALTHZ, connections, args.floor_duration, floor_warmup
                )
                points.append(point)
            for tool in tools:
                for connections in levels:
                    points.append(asyncio.run(sql_floor(sampler, tool, connections, args.floor_duration, floor_warmup)))
        finally:
            sampler.close()
    print(
        f"\n### The MCP server under loadgen.mjs: {'; '.join(way.label for way in ways)}; machine: {os.cpu_count()} cores; "
        f"commit {code_version('mcp_server', 'contract')}; node {subprocess.run([node(), '--version'], capture_output=True, text=True).stdout.strip()}"
    )
    print(
        f"tools {args.duration:g} s measured after {args.warmup:g} s warm-up, {args.rounds} round(s) (medians; calls, errors "
        f"and new sessions summed); floors {args.floor_duration:g} s after "
        f"{floor_warmup:g} s; list_tasks users hold {LIST_SEED} tasks. Client CPU: loadgen.mjs's own, or for the SQL "
        "floor this Python process's (psycopg, asyncio).\n"
    )
    print(HEADER)
    for point in points:
        print(point.row())
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tools", default=",".join(TOOLS), help="tools to load, comma-separated")
    parser.add_argument("--connections", default="1,10,100", help="concurrent connections per point, comma-separated")
    parser.add_argument("--duration", type=float, default=20, help="seconds measured per tool point")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up before each tool point")
    parser.add_argument("--servers", default=".", help="ways of serving to compare, e.g. /tmp/before,. or .:w2,.:r2")
    parser.add_argument("--floor-duration", type=float, default=3, help="seconds measured per floor point")
    parser.add_argument("--rounds", type=int, default=1, help="times each tool point runs (interleaved); medians")
    args = parser.parse_args()
    unknown = [x for x in args.tools.split(",") if x not in TOOLS]
    if unknown:
        parser.error(f"unknown tool(s) {unknown}: choose from {', '.join(TOOLS)}")
    try:
        ways = [Way.parse(x) for x in args.servers.split(",") if x]
    except ValueError as exc:
        parser.error(str(exc))
    problems = [f"{p.name}: {p.problem}" for p in run(args, ways) if p.problem is not None]
    if problems:
        print("\nERRORS: answers failed their check:\n" + "\n".join(problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
