"""The reports printed: a point's table, the saturation table, tool calls beside the SQL floor, the targets."""

from __future__ import annotations

from collections import Counter

from bench.load.floors import OPERATIONS
from bench.load.measure import Point
from bench.load.workload import WORKLOAD_TOOLS
from bench.stats import HEADER, Summary, summarize


def point_report(title: str, point: Point) -> None:
    rows = [point.turn_summary(), point.overhead_summary(), point.tool_summary()]
    rows += [point.tool_summary(name) for name in WORKLOAD_TOOLS]
    rounds = [turn.model_rounds for turn in point.ok_turns]
    print(f"\n### {title}\n{HEADER}")
    for row in rows:
        print(row.row())
    rate = len(point.turns) / point.duration
    in_flight = rate * sum(turn.seconds for turn in point.turns) / max(1, len(point.turns))  # Little's law
    print(
        f"\n{len(point.turns)} turns in {point.duration:.0f} s = {rate:.1f} turns/s (a closed loop: about "
        f"{point.users} / (think time + turn time)); {in_flight:.1f} turns in flight on average; model rounds per "
        f"turn {sum(rounds) / max(1, len(rounds)):.2f}; errors: {point.turn_errors} turns, {point.tool_errors} tool calls"
    )
    print(point.cpu_lines())
    failures = Counter(turn.error for turn in point.turns if turn.error)
    for error, count in failures.most_common(5):
        print(f"- {count} x {error[:200]}")


def saturation_report(points: list[Point], limit_ms: float, think_mean: float) -> None:
    print(
        f"\n### Saturation (think time mean {think_mean:g} s; ends after p99 turn overhead passes {limit_ms:.0f} ms)\n"
        "| users | UI procs | turns | turns/s | tool calls/s | overhead p50 ms | p95 ms | p99 ms | tool p50 ms "
        "| tool p99 ms | errors | cores UI / MCP / PG / model / other | CPU ms/turn UI / MCP / PG / model |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
    )
    for point in points:
        overhead, tool = point.overhead_summary(), point.tool_summary()
        cores = " / ".join(f"{point.cores[name]:.2f}" for name in ("UI", "MCP server", "Postgres", "model", "other"))
        per_turn = " / ".join(
            f"{point.cpu_ms_per_turn(name):.1f}" for name in ("UI", "MCP server", "Postgres", "model")
        )
        print(
            f"| {point.users} | {point.ui_processes} | {len(point.turns)} | {len(point.turns) / point.duration:.1f} "
            f"| {tool.per_second:.1f} | {overhead.p50:.1f} | {overhead.p95:.1f} | {overhead.p99:.1f} "
            f"| {tool.p50:.2f} | {tool.p99:.2f} | {point.turn_errors + point.tool_errors} | {cores} | {per_turn} |"
        )


Round = tuple[dict[str, list[float]], int, float]  # (seconds by tool, errors, wall seconds): bench.load.floors'


def _all(name: str, measured: Round) -> Summary:
    latencies, errors, wall = measured
    return summarize(name, [x for operation in OPERATIONS for x in latencies[operation]], errors, wall)


def floor_report(single: Point, loaded: Point, wire: Round, floor_one: Round, floor_many: Round) -> None:
    """The agent's tool calls beside a thin wire-level client and the raw SQL floor, with their p50 ratios."""
    through_agent = single.tool_summary(label="tool call through the agent, 1 user back to back")
    under_load = loaded.tool_summary(label=f"tool call through the agent, {loaded.users} users")
    thin = _all("tool call, 1 client, thin JSON-RPC client (add/list/complete)", wire)
    sql_one = _all("SQL floor, 1 client (same statements, psycopg)", floor_one)
    sql_many = _all(f"SQL floor, {loaded.users} clients back to back", floor_many)
    print(f"\n### Tool calls beside the raw SQL floor\n{HEADER}")
    for row in (through_agent, under_load, thin, sql_one, sql_many):
        print(row.row())
    ratio = through_agent.p50 / sql_one.p50
    print(f"\np50 ratio, tool call through the agent (1 user) / SQL floor (1 client): {ratio:.1f}x")
    print(f"p50 ratio, thin client (1 client) / SQL floor (1 client): {thin.p50 / sql_one.p50:.1f}x")
    print(
        f"p50 ratio, tool call at {loaded.users} users / SQL floor at {loaded.users} clients: "
        f"{under_load.p50 / sql_many.p50:.1f}x (the floor's clients never pause: a far heavier load)"
    )


def targets_report(loaded: Point, single: Point) -> None:
    overhead, tool = loaded.overhead_summary(), single.tool_summary()
    errors = loaded.turn_errors + loaded.tool_errors
    checks = [
        (f"turn overhead p95 at {loaded.users} users <= 100 ms", overhead.p95, overhead.p95 <= 100),
        (f"turn overhead p99 at {loaded.users} users <= 200 ms", overhead.p99, overhead.p99 <= 200),
        (f"errors at {loaded.users} users = 0", errors, errors == 0),
        ("tool call p50 at 1 client (through the agent) <= 3 ms", tool.p50, tool.p50 <= 3),
    ]
    print("\n### Targets\n| target | measured | met |\n|---|---:|---|")
    for name, value, met in checks:
        print(f"| {name} | {value:.2f} | {'yes' if met else 'NO'} |")
