"""A real PostgreSQL and `python -m mcp_server` as its own process, for the benchmarks."""

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2

from mcp_server.db import Database
from mcp_server.embedded import LocalPostgres, free_port
from mcp_server.migrate import upgrade
from mcp_server.settings import sqlalchemy_url
from tests.support import TOKEN_SHA256


@contextlib.contextmanager
def running_stack(workers: int = 1) -> Iterator[tuple[str, str]]:
    """(Postgres URL, MCP base URL) of a fresh database and server, stopped on exit. The server knows the page's
    service token (tests.support.TOKEN) by its SHA-256 only; clients send it with X-Todo-User."""
    with tempfile.TemporaryDirectory(prefix="todo-bench-") as folder, LocalPostgres(Path(folder) / "pg") as pg:
        db = Database(sqlalchemy_url(pg.url))
        upgrade(db.engine)
        db.dispose()
        port = free_port()
        env = {name: value for name, value in os.environ.items() if name != "MCP_AUTH_TOKEN"}  # the page's secret
        env.update(DATABASE_URL=pg.url, MCP_SERVICE_TOKEN_SHA256=TOKEN_SHA256, MCP_PORT=str(port))
        env.update(LOG_LEVEL="WARNING", MCP_WORKERS=str(workers))
        server = subprocess.Popen([sys.executable, "-m", "mcp_server"], env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                assert server.poll() is None, "the MCP server exited"
                try:
                    if httpx2.get(f"{base}/readyz").status_code == 200:
                        break
                except httpx2.TransportError:
                    pass
                time.sleep(0.1)
            else:
                raise RuntimeError("the MCP server did not become ready")
            yield pg.url, base
        finally:
            server.terminate()
            server.wait(timeout=10)
