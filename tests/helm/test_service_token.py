"""The page's service token acts for any user the page names, so only the UI pods hold it: the MCP
server and its migration step get its SHA-256 instead (MCP_SERVICE_TOKEN_SHA256, from the same
Secret), and the `helm test` pod gets neither. The last test starts the real MCP server from the
environment the chart renders and calls it with the credentials the chart hands out."""

from __future__ import annotations

import copy
import hashlib
import re
import shutil
import subprocess
import uuid
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from tests.helm.support import (
    CHART_DIR,
    RELEASE,
    SCENARIOS,
    SERVICE_TOKEN_HASH_KEY,
    SERVICE_TOKEN_KEY,
    Manifest,
    PodTemplate,
    Values,
    component_pod,
    container,
    containers,
    iter_strings,
    load_values_file,
    mcp_settings,
    merge,
    pod_templates,
    render,
    resolved_env,
    secret_data,
    secret_ref,
)

RELEASE_SECRET = f"{RELEASE}-todo-chatbot"
GIVEN_TOKEN = "a-service-token-given-as-a-value"
MCP_SERVER_COMPONENTS = ("mcp", "migrations")  # the server (and its migrate initContainer), the migration Job


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def token_location(values: Values) -> tuple[str, str]:
    """(Secret, key) of the service token for these values, as values.yaml documents it."""
    auth = merge(load_values_file("values.yaml"), values)["mcp"]["auth"]
    if auth["existingSecret"]:
        return auth["existingSecret"], auth["existingSecretKey"]
    return RELEASE_SECRET, SERVICE_TOKEN_KEY


def token_holders(manifests: list[Manifest], location: tuple[str, str]) -> set[str]:
    """Every container (init containers too) of every pod the release runs (workloads, the migration
    Job, the `helm test` Pod) that can read the token: a secretKeyRef to its key, an envFrom of its
    whole Secret, the token written out anywhere in its spec; and every pod that mounts that Secret."""
    name, key = location
    token = secret_data(manifests).get(name, {}).get(key)
    holders: set[str] = set()
    for pod in pod_templates(manifests):
        for c in containers(pod):
            where = f"{pod.name}/{c['name']}"
            for entry in c.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef") or {}
                if (ref.get("name"), ref.get("key")) == location:
                    holders.add(where)
            if any(source.get("secretRef", {}).get("name") == name for source in c.get("envFrom", [])):
                holders.add(where)
            if token and any(token in text for text in iter_strings(c)):
                holders.add(where)
        for volume in pod.spec.get("volumes", []):
            sources = [volume, *volume.get("projected", {}).get("sources", [])]
            if any(source.get("secret", {}).get("secretName", source.get("secret", {}).get("name")) == name
                   for source in sources):  # fmt: skip
                holders.add(f"{pod.name}/volume:{volume['name']}")
    return holders


def mcp_server_pods(manifests: list[Manifest]) -> list[PodTemplate]:
    pods = [p for p in pod_templates(manifests) if p.labels.get("app.kubernetes.io/component") in MCP_SERVER_COMPONENTS]
    assert pods, "no MCP server pod rendered"
    return pods


def mcp_server_containers(manifests: list[Manifest]) -> list[tuple[PodTemplate, str]]:
    return [(pod, c["name"]) for pod in mcp_server_pods(manifests) for c in containers(pod)]


# --- who holds the token ------------------------------------------------------------------------


def test_the_service_token_reaches_only_the_ui_pods(scenario: str, manifests: list[Manifest]) -> None:
    ui = component_pod(manifests, "ui")
    auth = SCENARIOS[scenario].get("ui", {}).get("auth", {})
    forwards = auth.get("mode") == "oidc" and auth.get("oidc", {}).get("forwardAccessToken", True)
    # With single sign-on forwarding the users' own tokens, no pod holds it (test_oidc.py).
    expected = set() if forwards else {f"{ui.name}/ui"}
    assert token_holders(manifests, token_location(SCENARIOS[scenario])) == expected


def test_the_helm_test_pod_holds_no_secret_at_all(manifests: list[Manifest]) -> None:
    test_pod = component_pod(manifests, "test")
    for c in containers(test_pod):
        assert [e["name"] for e in c.get("env", []) if "valueFrom" in e] == []
        assert c.get("envFrom", []) == []
    assert [v for v in test_pod.spec.get("volumes", []) if "secret" in v or "projected" in v] == []


@pytest.mark.parametrize(
    "plant",
    ["secretKeyRef", "envFrom", "literal", "volume"],
)
def test_the_token_scan_finds_a_token_given_to_another_pod(default_manifests: list[Manifest], plant: str) -> None:
    # The scan above is only worth something if it sees every way a pod can be handed the token.
    manifests = copy.deepcopy(default_manifests)
    location = token_location({})
    token = secret_data(manifests)[RELEASE_SECRET][SERVICE_TOKEN_KEY]
    pod = component_pod(manifests, "test")
    smoke = container(pod, "smoke")
    if plant == "secretKeyRef":
        ref = {"name": location[0], "key": location[1]}
        smoke["env"].append({"name": "X", "valueFrom": {"secretKeyRef": ref}})
    elif plant == "envFrom":
        smoke["envFrom"] = [{"secretRef": {"name": location[0]}}]
    elif plant == "literal":
        smoke["command"][-1] += f"\n# {token}"
    else:
        pod.spec["volumes"].append({"name": "creds", "secret": {"secretName": location[0]}})
    found = token_holders(manifests, location) - {f"{component_pod(manifests, 'ui').name}/ui"}
    assert found and all(holder.startswith(pod.name) for holder in found)


# --- what the MCP server gets instead ---------------------------------------------------------


@pytest.mark.parametrize("mode", ["initContainer", "job"])
def test_the_mcp_pods_get_the_sha256_of_a_given_token(mode: str) -> None:
    manifests = render({"mcp": {"auth": {"token": GIVEN_TOKEN}}, "migrations": {"mode": mode}})
    for pod, name in mcp_server_containers(manifests):
        env = resolved_env(pod, name, manifests)
        assert env["MCP_SERVICE_TOKEN_SHA256"] == sha256(GIVEN_TOKEN), f"{pod.name}/{name}"
        assert "MCP_AUTH_TOKEN" not in env, f"{pod.name}/{name}"
    assert resolved_env(component_pod(manifests, "ui"), "ui", manifests)["MCP_AUTH_TOKEN"] == GIVEN_TOKEN


@pytest.mark.parametrize("mode", ["initContainer", "job"])
def test_the_mcp_pods_get_the_sha256_of_the_generated_token(mode: str) -> None:
    manifests = render({"migrations": {"mode": mode}})
    data = secret_data(manifests)[RELEASE_SECRET]
    generated = data[SERVICE_TOKEN_KEY]
    assert re.fullmatch(r"[A-Za-z0-9]{40}", generated)
    assert data[SERVICE_TOKEN_HASH_KEY] == sha256(generated)
    for pod, name in mcp_server_containers(manifests):
        env = resolved_env(pod, name, manifests)
        assert env["MCP_SERVICE_TOKEN_SHA256"] == sha256(generated), f"{pod.name}/{name}"
        assert secret_ref(pod, name, "MCP_SERVICE_TOKEN_SHA256") == {
            "name": RELEASE_SECRET,
            "key": SERVICE_TOKEN_HASH_KEY,
        }
    assert resolved_env(component_pod(manifests, "ui"), "ui", manifests)["MCP_AUTH_TOKEN"] == generated


@pytest.mark.parametrize("mode", ["initContainer", "job"])
def test_an_existing_secret_gives_the_token_to_the_ui_and_its_sha256_to_mcp(mode: str) -> None:
    manifests = render({"mcp": {"auth": {"existingSecret": "my-mcp-token"}}, "migrations": {"mode": mode}})
    release_secret = secret_data(manifests)[RELEASE_SECRET]  # still there, for the bundled database
    assert SERVICE_TOKEN_KEY not in release_secret and SERVICE_TOKEN_HASH_KEY not in release_secret
    ui = component_pod(manifests, "ui")
    assert secret_ref(ui, "ui", "MCP_AUTH_TOKEN") == {"name": "my-mcp-token", "key": "mcp-auth-token"}
    for pod, name in mcp_server_containers(manifests):
        ref = secret_ref(pod, name, "MCP_SERVICE_TOKEN_SHA256")
        assert ref == {"name": "my-mcp-token", "key": "mcp-service-token-sha256"}, f"{pod.name}/{name}"


DOCUMENTED_COMMAND = re.compile(r"^\s*##\s+(kubectl create secret generic my-mcp-token .*)$", re.MULTILINE)


def test_the_documented_kubectl_command_makes_the_secret_the_chart_reads() -> None:
    (command,) = DOCUMENTED_COMMAND.findall((CHART_DIR / "values.yaml").read_text())
    literals = dict(re.findall(r"--from-literal=([-._a-zA-Z0-9]+)=(\$\(.*\)$|\S+)", command))
    auth = load_values_file("values.yaml")["mcp"]["auth"]
    assert set(literals) == {auth["existingSecretKey"], auth["existingSecretHashKey"]}
    assert literals[auth["existingSecretKey"]] == "$T"
    if shutil.which("bash") is None or shutil.which("sha256sum") is None:
        pytest.skip("needs bash and sha256sum to run the documented hash")
    token = "a-token-typed-by-an-operator-0123"
    hashed = subprocess.run(
        ["bash", "-c", f"printf %s {literals[auth['existingSecretHashKey']]}"],
        env={"T": token, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert hashed == sha256(token)


# --- the real server, as the chart configures it ------------------------------------------------


def post(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    """Status and headers of an MCP tools/list POST."""
    body = b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}'
    wire = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json", **headers}
    try:
        with urlopen(Request(url, data=body, headers=wire, method="POST"), timeout=15) as response:
            return response.status, dict(response.headers)
    except HTTPError as error:
        return error.code, dict(error.headers)


def test_the_credentials_the_chart_hands_out_open_the_server_it_configures(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.client import McpConnection, TodoClient
    from mcp_server.server import build_app
    from tests.support import serving

    manifests = render(SCENARIOS["mcp-ingress-for-personal-tokens"])
    mcp_env = resolved_env(component_pod(manifests, "mcp"), "mcp", manifests)
    ui_token = resolved_env(component_pod(manifests, "ui"), "ui", manifests)["MCP_AUTH_TOKEN"]
    assert "MCP_AUTH_TOKEN" not in mcp_env
    settings = mcp_settings({**mcp_env, "DATABASE_URL": database_url}, monkeypatch)
    user = f"chart-{uuid.uuid4().hex[:12]}@example.com"
    with serving(build_app(settings)) as server:
        url = f"{server.base_url}/mcp"
        # The page: the UI pods' token, naming the signed-in user.
        page = TodoClient(McpConnection(url, ui_token), acting_for=user)
        page.add_task("made on the page")
        personal = page.create_access_token("notebook").token
        assert personal.startswith("todo_pat_")
        # The person's own client, with the personal token: the same user's tasks.
        mine = TodoClient.open(url, token=personal)
        assert [task.title for task in mine.list_tasks().tasks] == ["made on the page"]
        page.connection.close()
        mine.connection.close()

        bearer = {"Authorization": f"Bearer {personal}"}
        statuses: dict[str, Any] = {
            "through the MCP ingress": post(url, {**bearer, "Host": "mcp.example.com"})[0],
            "another host": post(url, {**bearer, "Host": "elsewhere.example.com"})[0],
            "an allowed browser origin": post(url, {**bearer, "Origin": "https://inspector.example.com"})[0],
            "another origin": post(url, {**bearer, "Origin": "https://evil.example.com"})[0],
        }
        refused, headers = post(url, {})
    assert statuses == {
        "through the MCP ingress": 200,
        "another host": 421,
        "an allowed browser origin": 200,
        "another origin": 403,
    }
    assert refused == 401
    assert {k.lower(): v for k, v in headers.items()}["www-authenticate"].startswith("Bearer")
