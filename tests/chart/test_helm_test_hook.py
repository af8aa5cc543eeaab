"""The `helm test` Pod's script works against real MCP servers. It runs exactly as rendered (same
command, same environment, the token from the rendered Secret, the Service DNS names resolved to
loopback) against
- a stand-in built on the MCP Python SDK, whose failures each test can choose, and
- the project's own mcp_server, configured from the environment the chart renders for it, on a
  real PostgreSQL (the session database of tests/conftest.py)."""

from __future__ import annotations

import hmac
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
from mcp.server import MCPServer
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings

from tests.chart.chart_support import (
    Manifest,
    PodTemplate,
    component_pod,
    container,
    env_value,
    mcp_settings,
    of_kind,
    render,
    resolved_env,
    secret_data,
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
    """What the stand-in servers should do, and what they saw."""

    token: str
    allowed_hosts: list[str]
    json_response: bool = True
    tool_fails: bool = False
    ui_healthy: bool = True
    tool_calls: list[str] = field(default_factory=list)


def mcp_app(stand_in: StandIn) -> Any:
    class Verifier:
        async def verify_token(self, token: str) -> AccessToken | None:
            if hmac.compare_digest(token.encode(), stand_in.token.encode()):
                return AccessToken(token=token, client_id="helm-test", scopes=[])
            return None

    server = MCPServer(
        "stand-in-todo",
        token_verifier=Verifier(),
        auth=AuthSettings(issuer_url="http://localhost", resource_server_url=None),
    )

    @server.tool()
    def list_tasks(user_id: str) -> list[str]:
        """List the user's tasks."""
        stand_in.tool_calls.append(user_id)
        if stand_in.tool_fails:
            raise ValueError("the database is unreachable")
        return []

    return server.streamable_http_app(
        stateless_http=True,
        json_response=stand_in.json_response,
        transport_security=TransportSecuritySettings(allowed_hosts=stand_in.allowed_hosts),
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
    token: str
    allowed_hosts: list[str]


def render_release(mcp_port: int, ui_port: int) -> Release:
    # The Services' ports are the stand-ins' ports, so the rendered URLs need no rewriting.
    manifests = render({"mcp": {"service": {"port": mcp_port}}, "ui": {"service": {"port": ui_port}}})
    test_pod = component_pod(manifests, "test")
    (secret,) = secret_data(manifests).values()
    allowed = (env_value(component_pod(manifests, "mcp"), "mcp", "MCP_ALLOWED_HOSTS", manifests) or "").split(",")
    return Release(manifests, test_pod, secret["mcp-auth-token"], allowed)


def run_test_pod(release: Release, tmp_path: Path, token: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the smoke container's command with its environment, as the kubelet would."""
    smoke = container(release.test_pod, "smoke")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(tmp_path)}
    env |= resolved_env(release.test_pod, "smoke", release.manifests)
    if token is not None:
        env["MCP_AUTH_TOKEN"] = token
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    command = [sys.executable if smoke["command"][0] == "python" else smoke["command"][0], *smoke["command"][1:]]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


@contextmanager
def release_and_stand_ins(**behaviour: Any) -> Iterator[tuple[Release, StandIn]]:
    mcp_sock, ui_sock = listening_socket(), listening_socket()
    release = render_release(mcp_sock.getsockname()[1], ui_sock.getsockname()[1])
    stand_in = StandIn(token=release.token, allowed_hosts=release.allowed_hosts, **behaviour)
    with serving(mcp_app(stand_in), stand_in, mcp_sock, ui_sock):
        yield release, stand_in


@pytest.mark.parametrize("json_response", [True, False], ids=["json", "sse"])
def test_helm_test_passes_against_a_healthy_release(tmp_path: Path, json_response: bool) -> None:
    with release_and_stand_ins(json_response=json_response) as (release, stand_in):
        result = run_test_pod(release, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "MCP tools/call list_tasks: ok" in result.stdout
    assert stand_in.tool_calls == ["helm-test"]


def test_helm_test_fails_when_the_tool_call_is_an_error(tmp_path: Path) -> None:
    with release_and_stand_ins(tool_fails=True) as (release, stand_in):
        result = run_test_pod(release, tmp_path)
    assert result.returncode != 0
    assert "list_tasks returned an error" in result.stderr
    assert stand_in.tool_calls == ["helm-test"]


def test_helm_test_fails_with_the_wrong_token(tmp_path: Path) -> None:
    with release_and_stand_ins() as (release, _):
        result = run_test_pod(release, tmp_path, token="not-the-token")
    assert result.returncode != 0
    assert "401" in result.stderr


def test_helm_test_fails_when_the_ui_is_unhealthy(tmp_path: Path) -> None:
    with release_and_stand_ins(ui_healthy=False) as (release, stand_in):
        result = run_test_pod(release, tmp_path)
    assert result.returncode != 0
    assert "_stcore/health" in result.stderr
    assert stand_in.tool_calls == []


def test_mcp_refuses_a_service_name_missing_from_the_allowed_hosts(tmp_path: Path) -> None:
    # Shows that the passing test above really went through the Host check with the chart's list.
    mcp_sock, ui_sock = listening_socket(), listening_socket()
    release = render_release(mcp_sock.getsockname()[1], ui_sock.getsockname()[1])
    stand_in = StandIn(token=release.token, allowed_hosts=["localhost:*", "127.0.0.1:*"])
    with serving(mcp_app(stand_in), stand_in, mcp_sock, ui_sock):
        result = run_test_pod(release, tmp_path)
    assert result.returncode != 0
    assert "421" in result.stderr


def test_helm_test_passes_against_the_real_mcp_server_configured_by_the_chart(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_server.server import build_app

    mcp_sock, ui_sock = listening_socket(), listening_socket()
    release = render_release(mcp_sock.getsockname()[1], ui_sock.getsockname()[1])
    env = resolved_env(component_pod(release.manifests, "mcp"), "mcp", release.manifests)
    # Everything as rendered but the database, which is the test session's PostgreSQL.
    settings = mcp_settings({**env, "DATABASE_URL": database_url}, monkeypatch)
    stand_in = StandIn(token=release.token, allowed_hosts=[])
    with serving(build_app(settings), stand_in, mcp_sock, ui_sock):
        result = run_test_pod(release, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "MCP tools/call list_tasks: ok" in result.stdout


def test_the_helm_test_pod_is_rendered_once(default_manifests: list[Manifest]) -> None:
    assert len(of_kind(default_manifests, "Pod")) == 1
