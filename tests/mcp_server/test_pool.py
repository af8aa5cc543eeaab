"""The server's database pool is fixed by construction: at most DB_POOL_SIZE connections, kept open, so a burst of
calls waits for a free one and never opens a connection beyond the pool (each one a new Postgres backend, which is
where the CPU went under load) nor closes one on its return.

The server runs as its own process on a database of its own, so that Postgres's session counter for that database
(`pg_stat_database.sessions`) counts exactly the server's connections.
"""

import asyncio
import uuid
from collections.abc import Iterator

import httpx2
import psycopg
import pytest
from mcp.shared.inbound import MCP_METHOD_HEADER, MCP_NAME_HEADER, MCP_PROTOCOL_VERSION_HEADER
from psycopg import sql

from app.client import PROTOCOL_VERSION, REQUEST_META, USER_HEADER
from devtools.postgres import LocalPostgres
from devtools.servers import McpProcess
from mcp_server.db import Database
from mcp_server.migrate import upgrade
from mcp_server.settings import sqlalchemy_url
from tests.support import wait_for

POOL = 4
CALLS = 1000


@pytest.fixture
def own_database(postgres: LocalPostgres, pg: psycopg.Connection) -> Iterator[tuple[str, str]]:
    """(name, URL) of a fresh, migrated database that only the test's server uses; dropped afterwards."""
    name = f"pool_{uuid.uuid4().hex[:10]}"
    pg.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = postgres.url.rsplit("/", 1)[0] + f"/{name}"
    db = Database(sqlalchemy_url(url))
    upgrade(db.engine)
    db.dispose()
    yield name, url
    pg.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def sessions(pg: psycopg.Connection, database: str) -> int:
    """Connections ever made to `database`, once none is left open (a backend's counts are final when it exits)."""
    wait_for(
        lambda: pg.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)).fetchone() == (0,),
        f"every connection to {database} closed",
    )
    pg.execute("SELECT pg_stat_clear_snapshot()")
    row = pg.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (database,)).fetchone()
    assert row is not None
    return int(row[0])


async def burst(url: str, token: str) -> list[bool]:
    """CALLS tool calls at once, each on its own connection and for its own user, as the page's client sends them;
    whether each succeeded."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        MCP_PROTOCOL_VERSION_HEADER: PROTOCOL_VERSION,
        MCP_METHOD_HEADER: "tools/call",
    }
    limits = httpx2.Limits(max_connections=CALLS, max_keepalive_connections=CALLS)
    async with httpx2.AsyncClient(timeout=120, limits=limits) as http:

        async def call(number: int) -> bool:
            name, arguments = ("add_task", {"title": f"task {number}"}) if number % 2 else ("list_tasks", {})
            body = {
                "jsonrpc": "2.0",
                "id": number,
                "method": "tools/call",
                "params": {"name": name, "arguments": arguments, "_meta": REQUEST_META},
            }
            mine = {**headers, MCP_NAME_HEADER: name, USER_HEADER: f"burst-{number}@example.com"}
            response = await http.post(url, json=body, headers=mine)
            answer = response.json()
            return response.status_code == 200 and "result" in answer and not answer["result"].get("isError")

        return await asyncio.gather(*(call(number) for number in range(CALLS)))


def test_a_thousand_concurrent_calls_open_at_most_the_pools_connections(
    own_database: tuple[str, str], pg: psycopg.Connection
) -> None:
    name, url = own_database
    before = sessions(pg, name)
    with McpProcess(url, DB_POOL_SIZE=str(POOL), MCP_MIGRATE_ON_START="false") as server:  # migrated above
        succeeded = asyncio.run(burst(server.url, server.service_token))
    assert all(succeeded), f"{succeeded.count(False)} of {CALLS} calls failed"
    opened = sessions(pg, name) - before
    assert 1 <= opened <= POOL, f"{CALLS} concurrent calls opened {opened} connections; the pool has {POOL}"
