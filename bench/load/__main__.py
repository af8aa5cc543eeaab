"""`python -m bench.load`: the command line; runs the points and prints the reports (see the package's docstring)."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

import bench.load
from bench.common import code_version, running_stack
from bench.load import ROOT
from bench.load.floors import OPERATIONS, sql_round, tool_round
from bench.load.measure import Point, measure
from bench.load.plot import PLOTS, plot
from bench.load.processes import Stack
from bench.load.report import floor_report, point_report, saturation_report, targets_report


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load",
        description=bench.load.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--users", type=int, default=100, help="simulated users in the main runs")
    parser.add_argument("--duration", type=float, default=60, help="seconds of each main run")
    parser.add_argument("--think", type=float, default=5.0, help="mean think time between turns, seconds")
    parser.add_argument("--slow-model", type=float, default=0.5, help="model latency of the second run, seconds")
    parser.add_argument("--levels", default="10,25,50,100,200,400", help="users per saturation point")
    parser.add_argument("--point-duration", type=float, default=25, help="seconds per saturation point")
    parser.add_argument("--p99-limit", type=float, default=200, help="ms of turn overhead p99 that ends the curve")
    parser.add_argument("--full-curve", action="store_true", help="run every level, past the p99 limit too")
    parser.add_argument("--ui-processes", default="1", help="UI processes to split users over; '1,2' = both")
    parser.add_argument("--workers", type=int, default=1, help="MCP server processes (MCP_WORKERS)")
    parser.add_argument("--single-turns", type=int, default=200, help="back-to-back turns of the 1-user point")
    parser.add_argument("--floor-calls", type=int, default=3000, help="calls in the SQL floor at --users clients")
    parser.add_argument("--history", type=int, default=10, help="earlier turns already in each conversation")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="py-spy the main run (raw stacks in artifacts/)")
    parser.add_argument("--skip", default="", help="parts to leave out: slow,curve (comma-separated)")
    args = parser.parse_args()
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    processes = [int(x) for x in args.ui_processes.split(",")]
    began = time.perf_counter()
    with running_stack(args.workers) as (database_url, base):
        stack = Stack.find(database_url, base)
        print(
            f"\n## Load: {args.users} simulated users, think time mean {args.think:g} s, {args.duration:g} s per run "
            f"({args.workers} MCP server process(es); machine: {os.cpu_count()} cores, load average "
            f"{os.getloadavg()[0]:.1f} before the run); "
            f"code: {code_version('app', 'mcp_server')}"
        )
        common: dict[str, Any] = {"seed": args.seed, "history_turns": args.history}
        single = measure(stack, 1, 120, think_mean=0, max_turns=args.single_turns, **common)
        point_report(f"1 user, {args.single_turns} turns back to back, model instant", single)
        rounds = max(1, args.floor_calls // len(OPERATIONS))
        wire = asyncio.run(tool_round(stack.mcp_url, 1, min(rounds, 200)))
        floor_one = asyncio.run(sql_round(database_url, 1, min(rounds, 200)))
        floor_many = asyncio.run(sql_round(database_url, args.users, max(1, rounds // args.users)))

        loaded: dict[int, Point] = {}
        for count in processes:
            profile = ROOT / "artifacts" if args.profile and count == processes[0] else None
            loaded[count] = point = measure(
                stack, args.users, args.duration, ui_processes=count, think_mean=args.think, profile=profile, **common
            )
            point_report(f"{args.users} users, {count} UI process(es), model instant", point)
        if "slow" not in skip:
            slow = measure(
                stack, args.users, args.duration, model_latency=args.slow_model, think_mean=args.think, **common
            )
            point_report(
                f"{args.users} users, 1 UI process, model answering after {args.slow_model * 1000:.0f} ms", slow
            )
        main_point = loaded[processes[0]]
        floor_report(single, main_point, wire, floor_one, floor_many)
        targets_report(main_point, single)

        if "curve" not in skip:
            curves: dict[int, list[Point]] = {}
            for count in processes:
                curve = curves[count] = []
                for users in (int(x) for x in args.levels.split(",")):
                    point = measure(
                        stack, users, args.point_duration, ui_processes=count, think_mean=args.think, **common
                    )
                    curve.append(point)
                    print(
                        f"... {users} users, {count} UI process(es): p99 overhead {point.overhead_summary().p99:.0f} ms"
                    )
                    if point.overhead_summary().p99 > args.p99_limit and not args.full_curve:
                        break
                saturation_report(curve, args.p99_limit, args.think)
            plot(curves, args.p99_limit, args.think, PLOTS)
    print(f"\nwhole run: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
