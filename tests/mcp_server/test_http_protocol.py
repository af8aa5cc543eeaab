"""The HTTP layer under the MCP server: TCP_NODELAY on every connection, and several worker processes."""

import asyncio
import socket

import pytest
import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.server import ServerState

from app.client import McpConnection, TodoClient
from mcp_server.workarounds import NoDelayHTTPProtocol
from tests.app.support.faults import McpProcess
from tests.support import TOKEN, TOKEN_SHA256

pytestmark = pytest.mark.anyio


async def nodelay_of_accepted_connection(protocol: type[AutoHTTPProtocol]) -> int:
    """TCP_NODELAY of the server side of one connection, on a listening socket bound the way uvicorn binds it
    for several workers (`socket.socket(family=AF_INET)`: no IPPROTO_TCP, so asyncio leaves Nagle on)."""

    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("no request is sent")

    config = uvicorn.Config(app, log_level="warning")
    config.load()
    state = ServerState()
    listener = socket.socket(family=socket.AF_INET)
    listener.bind(("127.0.0.1", 0))
    made: asyncio.Queue[int] = asyncio.Queue()

    class Probe(protocol):  # type: ignore[misc,valid-type]
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            made.put_nowait(transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Probe(config, state, {}), sock=listener)
    try:
        _, writer = await asyncio.open_connection(*listener.getsockname())
        value = await asyncio.wait_for(made.get(), timeout=5)
        writer.close()
        return value
    finally:
        server.close()


async def test_every_connection_gets_tcp_nodelay() -> None:
    assert await nodelay_of_accepted_connection(AutoHTTPProtocol) == 0, "uvicorn's own protocol leaves Nagle on"
    assert await nodelay_of_accepted_connection(NoDelayHTTPProtocol) != 0


def test_two_worker_processes_serve_the_tools(database_url: str, user_id: str) -> None:
    server = McpProcess(database_url, MCP_WORKERS="2", MCP_SERVICE_TOKEN_SHA256=TOKEN_SHA256)
    try:
        server.start(timeout=60)
        with McpConnection(server.url, TOKEN, max_connections=4) as connection:
            todo = TodoClient(connection, user_id)
            numbers = [todo.add_task(f"task {n}").id for n in range(8)]  # over pooled connections to both workers
            assert numbers == list(range(1, 9))
            assert todo.list_tasks().total == 8
    finally:
        server.close()
