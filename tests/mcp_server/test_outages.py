"""A database that goes away: readiness turns false, calls fail fast and clearly, then recover by themselves."""

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from devtools.postgres import LocalPostgres
from mcp_server.db import Database
from mcp_server.migrate import upgrade
from mcp_server.server import build_app
from tests.conftest import make_settings
from tests.support import ServerThread, failed, mcp_client, ok, serving

pytestmark = pytest.mark.anyio


@pytest.fixture
def own_postgres() -> Iterator[LocalPostgres]:
    """A database of this test's own, since the test stops it."""
    with tempfile.TemporaryDirectory(prefix="todo-outage-") as folder, LocalPostgres(Path(folder) / "pg") as pg:
        yield pg


def readiness(server: ServerThread) -> int:
    return httpx2.get(f"{server.base_url}/readyz", timeout=10).status_code


async def test_readiness_and_calls_follow_the_database_without_a_restart(own_postgres: LocalPostgres) -> None:
    settings = make_settings(own_postgres.url, db_connect_timeout=2)
    upgrade(Database(settings.sqlalchemy_url).engine)
    with serving(build_app(settings)) as server:
        url = f"{server.base_url}/mcp"
        async with mcp_client(url, user="u") as client:
            assert readiness(server) == 200
            ok(await client.call_tool("add_task", {"title": "before the outage"}))

            own_postgres.stop()
            assert readiness(server) == 503
            assert httpx2.get(f"{server.base_url}/healthz").status_code == 200, "liveness does not need the database"
            started = time.monotonic()
            message = failed(await client.call_tool("add_task", {"title": "during the outage"}))
            assert message == "Storage unavailable, try again in a moment. Nothing was changed."
            assert time.monotonic() - started < 5, "a call fails fast while the database is down"

            own_postgres.start()
            assert readiness(server) == 200
            listed = ok(await client.call_tool("list_tasks", {}))
            assert [t["title"] for t in listed["tasks"]] == ["before the outage"]
            ok(await client.call_tool("add_task", {"title": "after the outage"}))


async def test_readiness_is_false_until_the_schema_is_migrated(own_postgres: LocalPostgres) -> None:
    settings = make_settings(own_postgres.url)
    with serving(build_app(settings)) as server:
        response = httpx2.get(f"{server.base_url}/readyz")
        assert response.status_code == 503 and "schema at None" in response.json()["reason"]
        upgrade(Database(settings.sqlalchemy_url).engine)
        assert readiness(server) == 200
