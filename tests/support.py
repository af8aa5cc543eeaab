"""Test helpers: a uvicorn server in a thread, MCP clients over real HTTP, structured tool results."""

import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult
from starlette.types import ASGIApp

import contract.tools
from devtools.servers import free_port, sha256_hex

TOKEN_TOOLS = frozenset(contract.tools.TOKEN_TOOLS)  # what only the service credential may call and see
TOKEN = "test-token-0123456789abcdef"  # the page's service token in every test server
TOKEN_SHA256 = sha256_hex(TOKEN)  # what the server is configured with


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Return once condition() holds; fail, naming `what`, if it still does not at the deadline (a bound on a
    hang, not a timing verdict)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting, after {timeout:.0f} s, for {what}")
        time.sleep(0.02)


class ServerThread:
    """An ASGI app served by uvicorn on 127.0.0.1:<free port> in a background thread."""

    def __init__(self, app: ASGIApp, port: int | None = None):
        self.port = port or free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextlib.contextmanager
def serving_http(handler: Callable[..., BaseHTTPRequestHandler]) -> Iterator[str]:
    """A plain http.server stand-in on loopback, in a thread: its base URL; shut down on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextlib.contextmanager
def serving(app: ASGIApp) -> Iterator[ServerThread]:
    server = ServerThread(app).start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def mcp_client(
    url: str, token: str | None = TOKEN, *, user: str | None = None, **headers: str
) -> AsyncIterator[Client]:
    """The official SDK's client over HTTP; with the service token (the default), acting for `user`."""
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if user is not None:
        headers["X-Todo-User"] = user
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


def ok(result: CallToolResult) -> dict[str, Any]:
    """The structured result of a call that must have succeeded."""
    assert not result.is_error, error_text(result)
    assert result.structured_content is not None
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


def failed(result: CallToolResult) -> str:
    """The message of a call that must have failed."""
    assert result.is_error, f"expected an error, got {json.dumps(result.structured_content, default=str)}"
    return error_text(result)


async def personal_token(service_client: Client, name: str = "test", **options: Any) -> str:
    """A new personal access token for the user `service_client` acts for (made as the page makes one)."""
    return ok(await service_client.call_tool("create_access_token", {"name": name, **options}))["token"]
