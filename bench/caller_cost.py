"""What resolving the caller costs per call: the same server twice in one run, once as built and once with the
caller fixed in advance (no credential read: the floor), driven alternately by one client calling list_tasks.

Four ways in: the page's service token naming a user (X-Todo-User), a personal token (remembered for
auth.CACHE_SECONDS, so most calls skip the database), a signed-in user's access token from a real OpenID provider
(devtools/oidc.py: a JWT whose RS256 signature is checked on every call against the provider's keys, fetched once),
and the fixed-caller floor. Also the resolution alone, in process, per call.

    python -m bench.caller_cost [--calls 3000]
"""

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
import uvicorn
from mcp.shared.inbound import MCP_METHOD_HEADER, MCP_NAME_HEADER, MCP_PROTOCOL_VERSION_HEADER
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from app.client import PROTOCOL_VERSION, REQUEST_META, McpConnection, TodoClient
from bench.common import SERVICE_TOKEN as TOKEN
from bench.common import SERVICE_TOKEN_SHA256 as TOKEN_SHA256
from bench.stats import HEADER, percentile, summarize
from contract.tools import LIST_TASKS
from devtools.oidc import ALICE, OidcClient, OidcProvider
from devtools.postgres import LocalPostgres
from devtools.servers import McpProcess, free_port
from mcp_server.auth import Authenticator, Caller, CallerMiddleware, CallerUser
from mcp_server.db import Database
from mcp_server.migrate import upgrade
from mcp_server.oidc import JwtVerifier
from mcp_server.server import build_app
from mcp_server.settings import Settings, sqlalchemy_url

USER = "bench-caller@example.com"


class FixedCaller:
    """The floor: every /mcp request acts for USER without looking at its headers."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self.user = CallerUser(Caller(USER, "service"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["user"] = self.user
        await self.app(scope, receive, send)


def serve(database_url: str, port: int, fixed: bool) -> None:
    settings = Settings(database_url=database_url, mcp_service_token_sha256=TOKEN_SHA256, log_level="WARNING")  # type: ignore[arg-type]
    app = build_app(settings)
    if fixed:
        app.user_middleware = [
            Middleware(FixedCaller) if entry.cls is CallerMiddleware else entry for entry in app.user_middleware
        ]
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start(database_url: str, fixed: bool, port: int | None = None, **env: str) -> McpProcess:
    """This module's `serve` as its own process, ready; its url is the MCP endpoint."""
    port = port or free_port()
    command = [
        sys.executable,
        "-m",
        "bench.caller_cost",
        "serve",
        database_url,
        str(port),
        *(["--fixed"] if fixed else []),
    ]
    return McpProcess(database_url, port=port, service_token=TOKEN, command=command, own_output=True, **env).start()


def headers(authorization: str, user: str | None) -> dict[str, str]:
    sent = {
        "Authorization": authorization,
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        MCP_PROTOCOL_VERSION_HEADER: PROTOCOL_VERSION,
        MCP_METHOD_HEADER: "tools/call",
        MCP_NAME_HEADER: LIST_TASKS,
    }
    if user is not None:
        sent["X-Todo-User"] = user
    return sent


async def drive(ways: dict[str, tuple[str, dict[str, str]]], calls: int) -> dict[str, list[float]]:
    """Each way in turn, `calls` times: one sequential client, so the figures differ only by the way in."""
    body: dict[str, Any] = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": LIST_TASKS, "arguments": {"limit": 20}, "_meta": REQUEST_META},
    }
    latencies: dict[str, list[float]] = {name: [] for name in ways}
    async with httpx2.AsyncClient(timeout=10) as http:
        for round_number in range(calls + 50):
            for name, (url, sent) in ways.items():
                started = time.perf_counter()
                response = await http.post(url, json=body, headers=sent)
                elapsed = time.perf_counter() - started
                answer = response.json()
                assert response.status_code == 200 and not answer["result"].get("isError"), answer
                if round_number >= 50:  # warm-up
                    latencies[name].append(elapsed)
    return latencies


async def resolve_alone(
    database_url: str, personal: str, access_token: str, provider: OidcProvider, calls: int
) -> dict[str, list[float]]:
    """Microseconds of each resolution in process (the personal token from the cache, the provider's keys fetched
    once, before the first timed call)."""
    db = Database(sqlalchemy_url(database_url))
    verifier = JwtVerifier(provider.issuer, provider.audience)
    authenticator = Authenticator(TOKEN_SHA256, db, oidc=verifier, cache_seconds=3600)
    figures: dict[str, list[float]] = {}
    for name, authorization, user in [
        ("service token + X-Todo-User", f"Bearer {TOKEN}", USER),
        ("personal token (cached)", f"Bearer {personal}", None),
        ("OIDC access token (JWT, RS256)", f"Bearer {access_token}", None),
    ]:
        resolved = await authenticator.resolve(authorization, user)
        assert isinstance(resolved, Caller), resolved
        samples = []
        for _ in range(calls):
            started = time.perf_counter()
            await authenticator.resolve(authorization, user)
            samples.append((time.perf_counter() - started) * 1e6)
        figures[name] = samples
    await verifier.aclose()
    await db.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.caller_cost", description=__doc__)
    parser.add_argument("--calls", type=int, default=3000, help="calls per way in")
    parser.add_argument("--alone", type=int, default=20_000, help="in-process resolutions per credential")
    options = parser.parse_args()
    resolving_port = free_port()
    audience = f"http://127.0.0.1:{resolving_port}/mcp"
    client = OidcClient("bench", "bench-secret", ("http://127.0.0.1:9/callback",))
    with (
        tempfile.TemporaryDirectory(prefix="todo-bench-") as folder,
        LocalPostgres(Path(folder) / "pg") as pg,
        OidcProvider(audience=audience, clients=[client]) as provider,
    ):
        db = Database(sqlalchemy_url(pg.url))
        upgrade(db.engine)
        db.dispose()
        sso = {"MCP_OIDC_ISSUER": provider.issuer, "MCP_OIDC_AUDIENCE": audience}
        resolving = start(pg.url, fixed=False, port=resolving_port, **sso)
        floor = start(pg.url, fixed=True)
        resolving_url, floor_url = resolving.url, floor.url
        try:
            with McpConnection(resolving_url, TOKEN) as connection:
                page = TodoClient(connection, acting_for=USER)
                for number in range(20):
                    page.add_task(f"task {number}")
                personal = page.create_access_token("bench").token
            access_token = provider.sign_in(ALICE, client)["access_token"]
            ways = {
                "fixed caller (floor)": (floor_url, headers(f"Bearer {TOKEN}", None)),
                "service token + X-Todo-User": (resolving_url, headers(f"Bearer {TOKEN}", USER)),
                "personal token": (resolving_url, headers(f"Bearer {personal}", None)),
                "OIDC access token (JWT)": (resolving_url, headers(f"Bearer {access_token}", None)),
            }
            latencies = asyncio.run(drive(ways, options.calls))
            alone = asyncio.run(resolve_alone(pg.url, personal, access_token, provider, options.alone))
        finally:
            resolving.close()
            floor.close()
    print(f"list_tasks (20 tasks), 1 client, {options.calls} calls per way, interleaved:\n{HEADER}")
    summaries = {name: summarize(name, samples, 0, sum(samples)) for name, samples in latencies.items()}
    for summary in summaries.values():
        print(summary.row())
    floor_p50 = summaries["fixed caller (floor)"].p50
    for name in ("service token + X-Todo-User", "personal token", "OIDC access token (JWT)"):
        print(f"added at p50 by resolving the caller, {name}: {summaries[name].p50 - floor_p50:+.3f} ms")
    print(f"\nresolution alone, in process, {options.alone} calls each:\n| credential | mean µs | p50 µs | p95 µs |")
    print("|---|---:|---:|---:|")
    for name, samples in alone.items():
        mean = sum(samples) / len(samples)
        print(f"| {name} | {mean:.1f} | {percentile(samples, 0.5):.1f} | {percentile(samples, 0.95):.1f} |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), "--fixed" in sys.argv)
    else:
        main()
