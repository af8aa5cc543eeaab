"""The `helm test` Pod's script works against real MCP servers. It runs exactly as rendered (same
command, same environment, the Service DNS names resolved to loopback) against
- a stand-in whose answers each test can choose, and
- the project's own mcp_server, configured from the environment the chart renders for it, on a
  real PostgreSQL (the session database of tests/conftest.py).
The pod holds no credential: it checks health, readiness and that /mcp refuses a call without one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.helm.support import (
    Manifest,
    PodTemplate,
    component_pod,
    container,
    mcp_settings,
    of_kind,
    render,
    resolved_env,
)

# Loaded by the script's interpreter at start-up: the pod resolves Service names through cluster
# DNS, this resolves them to the stand-in servers on loopback.
SITECUSTOMIZE = """
import socket
_getaddrinfo = socket.getaddrinfo
def _loopback(host, *args, **kwargs):
    if isinstance(host, str) and host.endswith(".svc.cluster.local"):
        host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kwargs)
socket.getaddrinfo = _loopback
"""


@dataclass
class StandIn:
    """What the stand-in servers should answer, and what they were asked."""

    ready: bool = True
    mcp_status: int = 401  # what /mcp answers a call without a token
    challenge: bool = True  # a 401 carries WWW-Authenticate: Bearer
    ui_healthy: bool = True
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Authorization)


def mcp_app(stand_in: StandIn) -> Any:
    def seen(request: Request) -> None:
        stand_in.requests.append((request.url.path, request.headers.get("authorization")))

    async def healthz(request: Request) -> Response:
        seen(request)
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        seen(request)
        if stand_in.ready:
            return JSONResponse({"ready": True, "schema": "head"})
        return JSONResponse({"ready": False, "reason": "database unreachable"}, status_code=503)

    async def mcp(request: Request) -> Response:
        seen(request)
        if stand_in.mcp_status == 200:  # a server with authentication switched off
            return JSONResponse({"jsonrpc": "2.0", "id": 1, "result": {"protocolVersion": "2025-11-25"}})
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if stand_in.challenge else {}
        return JSONResponse({"error": "invalid_token"}, status_code=stand_in.mcp_status, headers=headers)

    return Starlette(
        routes=[Route("/healthz", healthz), Route("/readyz", readyz), Route("/mcp", mcp, methods=["POST"])]
    )


def ui_health_server(stand_in: StandIn, sock: socket.socket) -> ThreadingHTTPServer:
    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            healthy = stand_in.ui_healthy and self.path == "/_stcore/health"
            body = b"ok" if healthy else b"not ready"
            self.send_response(200 if healthy else 503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(sock.getsockname(), Health, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    server.server_activate()
    return server


def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serving(app: Any, stand_in: StandIn, mcp_sock: socket.socket, ui_sock: socket.socket) -> Iterator[None]:
    """Serve `app` as the MCP Service and a health endpoint as the UI Service, on the given sockets."""
    mcp = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    mcp_thread = threading.Thread(target=mcp.run, kwargs={"sockets": [mcp_sock]}, daemon=True)
    mcp_thread.start()
    ui = ui_health_server(stand_in, ui_sock)
    ui_thread = threading.Thread(target=ui.serve_forever, daemon=True)
    ui_thread.start()
    try:
        deadline = time.monotonic() + 15
        while not mcp.started and mcp_thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert mcp.started, "the MCP server did not start"
        yield
    finally:
        mcp.should_exit = True
        ui.shutdown()
        ui.server_close()
        mcp_thread.join(timeout=10)


@dataclass(frozen=True)
class Release:
    manifests: list[Manifest]
    test_pod: PodTemplate


def render_release(mcp_port: int, ui_port: int) -> Release:
    # The Services' ports are the stand-ins' ports, so the rendered URLs need no rewriting.
    manifests = render({"mcp": {"service": {"port": mcp_port}}, "ui": {"service": {"port": ui_port}}})
    return Release(manifests, component_pod(manifests, "test"))


def run_test_pod(release: Release, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run the smoke container's command with its environment, as the kubelet would."""
    smoke = container(release.test_pod, "smoke")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(tmp_path)}
    env |= resolved_env(release.test_pod, "smoke", release.manifests)
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    command = [sys.executable if smoke["command"][0] == "python" else smoke["command"][0], *smoke["command"][1:]]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


@contextmanager
def release_and_stand_ins(**behaviour: Any) -> Iterator[tuple[Release, StandIn]]:
    mcp_sock, ui_sock = listening_socket(), listening_socket()
    release = render_release(mcp_sock.getsockname()[1], ui_sock.getsockname()[1])
    stand_in = StandIn(**behaviour)
    with serving(mcp_app(stand_in), stand_in, mcp_sock, ui_sock):
        yield release, stand_in


def test_helm_test_passes_against_a_healthy_release_without_any_credential(tmp_path: Path) -> None:
    with release_and_stand_ins() as (release, stand_in):
        result = run_test_pod(release, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "MCP without a token: 401, WWW-Authenticate: Bearer" in result.stdout
    assert stand_in.requests == [("/healthz", None), ("/readyz", None), ("/mcp", None)]


def test_helm_test_fails_when_mcp_answers_without_a_token(tmp_path: Path) -> None:
    with release_and_stand_ins(mcp_status=200) as (release, _):
        result = run_test_pod(release, tmp_path)
    assert result.returncode != 0
    assert "without a token answered 200, not 401" in result.stderr


def test_helm_test_fails_when_the_401_has_no_bearer_challenge(tmp_path: Path) -> None:
    with release_and_stand_ins(challenge=False) as (release, _):
        result = run_test_pod(release, tmp_path)
    assert result.returncode != 0
    assert "WWW-Authenticate: Bearer" in result.stderr


def test_helm_test_fails_when_mcp_refuses_its_host_name(tmp_path: Path) -> None:
    with release_and_stand_ins(mcp_status=421) as (release, _):
        result = run_test_pod(release, tmp_path)
    assert result.returncode != 0
    assert "answered 421" in result.stderr


def test_helm_test_fails_when_mcp_is_not_ready(tmp_path: Path) -> None:
    with release_and_stand_ins(ready=False) as (release, stand_in):
        result = run_test_pod(release, tmp_path)
    assert result.returncode != 0
    assert "/readyz answered 503" in result.stderr
    assert "/mcp" not in [path for path, _ in stand_in.requests]


def test_helm_test_fails_when_the_ui_is_unhealthy(tmp_path: Path) -> None:
    with release_and_stand_ins(ui_healthy=False) as (release, stand_in):
        result = run_test_pod(release, tmp_path)
    assert result.returncode != 0
    assert "_stcore/health" in result.stderr
    assert stand_in.requests == []


def test_helm_test_fails_when_mcp_is_unreachable(tmp_path: Path) -> None:
    mcp_sock, ui_sock = listening_socket(), listening_socket()
    release = render_release(mcp_sock.getsockname()[1], ui_sock.getsockname()[1])
    mcp_sock.close()  # nothing listens on the MCP Service's port
    stand_in = StandIn()
    ui = ui_health_server(stand_in, ui_sock)
    threading.Thread(target=ui.serve_forever, daemon=True).start()
    try:
        result = run_test_pod(release, tmp_path)
    finally:
        ui.shutdown()
        ui.server_close()
    assert result.returncode != 0
    assert "/healthz unreachable" in result.stderr


def test_helm_test_passes_against_the_real_mcp_server_configured_by_the_chart(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_server.server import build_app

    mcp_sock, ui_sock = listening_socket(), listening_socket()
    release = render_release(mcp_sock.getsockname()[1], ui_sock.getsockname()[1])
    env = resolved_env(component_pod(release.manifests, "mcp"), "mcp", release.manifests)
    # Everything as rendered but the database, which is the test session's PostgreSQL.
    settings = mcp_settings({**env, "DATABASE_URL": database_url}, monkeypatch)
    with serving(build_app(settings), StandIn(), mcp_sock, ui_sock):
        result = run_test_pod(release, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "MCP readiness (database and schema): ok" in result.stdout
    assert "MCP without a token: 401, WWW-Authenticate: Bearer" in result.stdout


def test_the_helm_test_pod_is_rendered_once(default_manifests: list[Manifest]) -> None:
    assert len(of_kind(default_manifests, "Pod")) == 1
