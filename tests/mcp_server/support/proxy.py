"""A loopback reverse proxy that adds one header and changes nothing else: for MCP checkers that cannot send
an Authorization header (the conformance suite). Host and Origin pass through as the checker sent them, so the
server's own DNS-rebinding checks are what the checker's scenarios test. Responses stream (SSE), requests
are read whole (MCP requests are small)."""

from collections.abc import AsyncIterator

import anyio
import httpx2
from starlette.types import Message, Receive, Scope, Send

# Per RFC 9110 7.6.1 these describe one connection, not the message: the proxy's own connections set them.
HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
}


class HeaderAddingProxy:
    """An ASGI app that forwards every HTTP request to `upstream` (scheme://host:port) with `header` set."""

    def __init__(self, upstream: str, header: tuple[str, str]):
        self.upstream = upstream.rstrip("/")
        self.header = (header[0].lower().encode("latin-1"), header[1].encode("latin-1"))
        self.seen: list[tuple[str, str, dict[str, str]]] = []  # (method, path, request headers as received)
        self._http: httpx2.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":  # no websockets on an MCP server
            return
        assert self._http is not None
        received = [(name.lower(), value) for name, value in scope["headers"]]
        self.seen.append(
            (scope["method"], scope["path"], {n.decode("latin-1"): v.decode("latin-1") for n, v in received})
        )
        # Content-Length too: the client sets it again from the same body.
        dropped = {*HOP_BY_HOP, b"content-length", self.header[0]}
        headers = [(n, v) for n, v in received if n not in dropped]
        headers.append(self.header)
        target = self.upstream + scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        request = self._http.build_request(scope["method"], target, headers=headers, content=await _body(receive))
        try:
            response = await self._http.send(request, stream=True)
        except httpx2.TransportError as exc:
            text = f"proxy: upstream unreachable ({type(exc).__name__})".encode()
            await send({"type": "http.response.start", "status": 502, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": text})
            return
        try:
            kept = [(n, v) for n, v in response.headers.raw if n.lower() not in HOP_BY_HOP]
            await send({"type": "http.response.start", "status": response.status_code, "headers": kept})
            async with anyio.create_task_group() as tasks:
                # A stream (an SSE GET, a subscription) ends when the client goes away, not only when upstream does.
                tasks.start_soon(_cancel_on_disconnect, receive, tasks.cancel_scope)
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
                tasks.cancel_scope.cancel()
        finally:
            await response.aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message: Message = await receive()
            if message["type"] == "lifespan.startup":
                self._http = httpx2.AsyncClient(
                    timeout=httpx2.Timeout(60, read=None), follow_redirects=False, trust_env=False
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._http is not None:
                    await self._http.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


async def _body(receive: Receive) -> bytes:
    chunks = [chunk async for chunk in _chunks(receive)]
    return b"".join(chunks)


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
