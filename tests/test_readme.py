"""The README's newcomer path as written: `make run` (devtools/run.py) on its embedded defaults prints a personal token, and
the README's notebook example, with that token pasted in, runs against it as the page's user."""

import os
import re
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.client import McpConnection, TodoClient
from devtools.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
READY = "Press Ctrl-C to stop everything."
START_SECONDS = 120


def python_example(heading: str) -> str:
    section = README.split(heading, 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"no python example under {heading!r}"
    return match.group(1)


class Launcher:
    """`python -m devtools.run` as `make run` starts it, its output read line by line as it comes."""

    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devtools.run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if READY in line:
                self.ready.set()
        self.ready.set()  # it stopped: the waiter looks at the output

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="module")
def launcher() -> Iterator[tuple[Launcher, str]]:
    service_token = f"readme-{uuid.uuid4().hex}"
    with tempfile.TemporaryDirectory(prefix="todo-readme-") as folder:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("OPENAI_", "DATABASE_URL"))}
        env.update(DEV_DATA_DIR=str(Path(folder) / "pg"), UI_PORT=str(free_port()), MCP_AUTH_TOKEN=service_token)
        env.pop("MCP_PORT", None)
        env.pop("DEFAULT_USER", None)
        running = Launcher(env)
        try:
            assert running.ready.wait(START_SECONDS), f"make run did not get ready:\n{running.output}"
            assert READY in running.output, f"make run stopped:\n{running.output}"
            yield running, service_token
        finally:
            running.stop()


def test_make_run_prints_the_urls_a_token_and_the_lines_to_paste(launcher: tuple[Launcher, str]) -> None:
    output = launcher[0].output
    url = re.search(r"MCP server:\s+(http://localhost:\d+/mcp)", output)
    assert url, output
    if "is taken" not in output:
        assert url.group(1) == "http://localhost:8000/mcp"
    token = re.search(r"todo_pat_[A-Za-z0-9_-]{43}", output)
    assert token, output
    assert f'TodoClient.open("{url.group(1)}", token="{token.group()}")' in output
    assert f'--header "Authorization: Bearer {token.group()}"' in output


def test_the_readme_notebook_example_runs_against_make_run_as_the_pages_user(
    launcher: tuple[Launcher, str],
) -> None:
    running, service_token = launcher
    url = re.search(r"MCP server:\s+(http://localhost:\d+/mcp)", running.output)
    token = re.search(r"todo_pat_[A-Za-z0-9_-]{43}", running.output)
    assert url and token
    example = python_example("## The Python client (for notebooks)")
    assert 'token="todo_pat_..."' in example and "http://localhost:8000/mcp" in example
    code = example.replace("todo_pat_...", token.group()).replace("http://localhost:8000/mcp", url.group(1))
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr

    # The page acts for the demo user with the service token: the notebook's task is that user's.
    page_url = url.group(1).replace("localhost", "127.0.0.1")
    with McpConnection(page_url, service_token) as connection:
        page = TodoClient(connection, acting_for="demo@example.com")
        assert "send Q3 report" in [task.title for task in page.list_tasks(status="all").tasks]
