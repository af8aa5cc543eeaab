"""`python -m mcp_server` as a process, driven by our client and by one no one here wrote (TypeScript SDK)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from mcp_server.embedded import free_port
from tests.support import TOKEN, mcp_client, ok

pytestmark = pytest.mark.anyio

TS_CLIENT = Path(__file__).parent / "ts_client"


@pytest.fixture(scope="module")
def server_process(database_url: str) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MCP_AUTH_TOKEN": TOKEN,
        "MCP_PORT": str(port),
        "LOG_LEVEL": "warning",
    }
    process = subprocess.Popen([sys.executable, "-m", "mcp_server"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx2.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert process.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.1)
        yield f"{base}/mcp"
    finally:
        process.terminate()
        # uvicorn finishes its shutdown, then re-raises SIGTERM so that the exit status tells why it stopped.
        assert process.wait(timeout=10) in (0, -signal.SIGTERM), "the server shuts down on SIGTERM"


async def test_the_entry_point_lists_all_eleven_tools_with_schemas(server_process: str) -> None:
    async with mcp_client(server_process) as client:
        tools = (await client.list_tools()).tools
        assert len(tools) == 11
        for tool in tools:
            assert "user_id" in tool.input_schema["properties"], tool.name
            assert tool.output_schema is not None, tool.name
        ok(await client.call_tool("add_task", {"user_id": "entry-point", "title": "served"}))


def test_the_typescript_sdk_lists_tools_and_adds_a_task(server_process: str, user_id: str) -> None:
    npm, node = shutil.which("npm"), shutil.which("node")
    assert npm and node, "node and npm are needed for this test (the Makefile's deps target installs them)"
    if not (TS_CLIENT / "node_modules" / "@modelcontextprotocol" / "sdk").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=TS_CLIENT, check=True, timeout=300)
    completed = subprocess.run(
        [node, "client.mjs", server_process, TOKEN, user_id],
        cwd=TS_CLIENT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert len(report["tools"]) == 11
    assert all("user_id" in tool["required"] and tool["output"] for tool in report["tools"])
    assert report["added"]["id"] == 1 and report["added"]["title"] == "from TypeScript"
    assert report["added"]["priority"] == "high" and report["added"]["tags"] == ["ts"]
    assert report["refused"]["isError"] is True
    assert "title: String should have at least 1 character" in report["refused"]["text"]
