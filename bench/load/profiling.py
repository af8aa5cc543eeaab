"""py-spy of the MCP server and the UI process(es) during a run, summarised by package and function."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.load import ROOT

PROFILE_RATE = 100  # py-spy samples per second


@contextlib.contextmanager
def profiling(folder: Path | None, server_pid: int, ui_pids: list[int], seconds: float) -> Iterator[Callable[[], None]]:
    """py-spy (GIL-holding samples, raw collapsed stacks) of the MCP server and the UI process(es), started by
    the callable once the users are set up; summarised when the block ends."""
    recorders: list[tuple[str, Path, subprocess.Popen[bytes]]] = []
    spy = Path(sys.executable).parent / "py-spy"

    def start() -> None:
        if folder is None:
            return
        folder.mkdir(parents=True, exist_ok=True)
        for name, pid in [("mcp", server_pid), *((f"ui{i}", pid) for i, pid in enumerate(ui_pids))]:
            out = folder / f"profile-{name}.txt"
            command = [str(spy), "record", "--gil", "--nonblocking", "--full-filenames", "--format", "raw"]
            command += ["-r", str(PROFILE_RATE), "-d", str(int(seconds)), "-o", str(out), "-p", str(pid)]
            recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            recorders.append((name, out, recorder))

    try:
        yield start
    finally:
        for name, out, recorder in recorders:
            try:
                recorder.wait(timeout=seconds + 30)
            except subprocess.TimeoutExpired:
                recorder.kill()
            if out.exists():
                process = "the MCP server" if name == "mcp" else f"UI process {name[2:]}"
                print(f"\nProfile of {process} during the run reported next ({out.relative_to(ROOT)}):")
                print(profile_summary(out, seconds))


def _package(frame: str) -> str:
    """'sqlalchemy', 'app', 'stdlib asyncio', ... for a py-spy frame 'function (path:line)'."""
    path = frame.rsplit("(", 1)[-1]
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].split(".", 1)[0]
    if path.startswith(str(ROOT)):
        return path[len(str(ROOT)) + 1 :].split("/", 1)[0]
    module = path.rsplit("/lib/python3", 1)[-1].split("/", 2)
    return f"stdlib {module[1].split('.', 1)[0] if len(module) > 1 else path}"


def profile_summary(path: Path, seconds: float, top: int = 12) -> str:
    """Share of wall time the process held the GIL, by package (self and inclusive) and the top functions."""
    self_by_package: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count, frames = int(count_text), stack.split(";")
        total += count
        self_by_package[_package(frames[-1])] += count
        functions[re.sub(r":\d+\)$", ")", frames[-1]).replace(str(ROOT) + "/", "")] += count
        for package in {_package(frame) for frame in frames}:
            inclusive[package] += count
    ticks = PROFILE_RATE * seconds
    lines = [f"GIL held in {total / ticks:.0%} of the run ({total} samples at {PROFILE_RATE} Hz)"]
    lines.append("| package | self % of GIL time | inclusive % |\n|---|---:|---:|")
    for package, count in self_by_package.most_common(top):
        lines.append(f"| {package} | {count / max(1, total):.0%} | {inclusive[package] / max(1, total):.0%} |")
    lines.append("| function (leaf) | % of GIL time |\n|---|---:|")
    for function, count in functions.most_common(top):
        lines.append(f"| `{function[:110]}` | {count / max(1, total):.1%} |")
    return "\n".join(lines)
