"""A real PostgreSQL and `python -m mcp_server` as its own process, for the benchmarks (devtools' pieces)."""

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from devtools.postgres import LocalPostgres
from devtools.servers import ROOT, McpProcess, sha256_hex
from mcp_server.db import Database
from mcp_server.migrate import upgrade
from mcp_server.settings import sqlalchemy_url

# The page's service token for the benchmarks' throwaway servers on loopback: fixed, so that every process of a
# benchmark (the load generator's workers too) knows it; the servers know its SHA-256 only.
SERVICE_TOKEN = "bench-service-token-of-a-throwaway-server"
SERVICE_TOKEN_SHA256 = sha256_hex(SERVICE_TOKEN)


@contextlib.contextmanager
def running_stack(workers: int = 1) -> Iterator[tuple[str, str]]:
    """(Postgres URL, MCP base URL) of a fresh database and server, stopped on exit. Clients send SERVICE_TOKEN
    with X-Todo-User."""
    with tempfile.TemporaryDirectory(prefix="todo-bench-") as folder, LocalPostgres(Path(folder) / "pg") as pg:
        db = Database(sqlalchemy_url(pg.url))
        upgrade(db.engine)
        db.dispose()
        with McpProcess(pg.url, service_token=SERVICE_TOKEN, own_output=True, MCP_WORKERS=str(workers)) as server:
            yield pg.url, server.base_url


def code_version(*folders: str) -> str:
    """The commit measured, and whether `folders` differ from it (read-only git): "62db188", or "62db188 with
    uncommitted changes in app/ or mcp_server/"; "unknown" without git."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", *folders], cwd=ROOT, env=env)
    except OSError:
        return "unknown"
    changed = (
        f" with uncommitted changes in {' or '.join(f'{folder}/' for folder in folders)}" if dirty.returncode else ""
    )
    return (head.stdout.strip() or "unknown") + changed
