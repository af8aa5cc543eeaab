"""Generated secrets survive `helm upgrade`: the chart reads them back from the live Secret with
`lookup`. Offline renders cannot exercise `lookup` (it returns nothing), so these tests point
Helm's own SDK at a minimal fake Kubernetes API that serves the release Secret."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import helm_python

from tests.helm.support import (
    CHART_DIR,
    NAMESPACE,
    RELEASE,
    Manifest,
    Values,
    find,
    parse_manifests,
    render,
    secret_data,
)

SECRET_NAME = f"{RELEASE}-todo-chatbot"
SECRET_PATH = re.compile(r"^/api/v1/namespaces/(?P<namespace>[^/]+)/secrets/(?P<name>[^/]+)$")
GENERATED = re.compile(r"^[A-Za-z0-9]{40}$")


def _secret(data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET_NAME, "namespace": NAMESPACE},
        "type": "Opaque",
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }


class FakeKubernetesApi(ThreadingHTTPServer):
    """Answers the two calls `lookup "v1" "Secret"` makes: core API discovery, then a GET."""

    def __init__(self, secrets: dict[tuple[str, str], dict[str, Any]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.secrets = secrets
        self.requests: list[str] = []

    @property
    def kubeconfig(self) -> str:
        host, port = self.server_address[:2]
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": f"http://{host!s}:{port}"}}],
                "users": [{"name": "fake", "user": {"token": "fake"}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": NAMESPACE}}],
                "current-context": "fake",
            }
        )


class _Handler(BaseHTTPRequestHandler):
    server: FakeKubernetesApi

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        self.server.requests.append(path)
        if path == "/api/v1":
            self._reply(200, {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": "v1",
                "resources": [{"name": "secrets", "singularName": "secret", "namespaced": True,
                               "kind": "Secret", "verbs": ["get", "list"]}],
            })  # fmt: skip
        elif (match := SECRET_PATH.match(path)) and (match["namespace"], match["name"]) in self.server.secrets:
            self._reply(200, self.server.secrets[(match["namespace"], match["name"])])
        else:
            self._reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                              "reason": "NotFound", "code": 404})  # fmt: skip

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def cluster_with(live_secret: dict[str, str] | None) -> Iterator[FakeKubernetesApi]:
    secrets = {} if live_secret is None else {(NAMESPACE, SECRET_NAME): _secret(live_secret)}
    api = FakeKubernetesApi(secrets)
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        api.shutdown()
        api.server_close()


def upgrade_render(api: FakeKubernetesApi, values: Values | None = None) -> list[Manifest]:
    """What `helm upgrade` would apply: a render whose `lookup` sees the fake cluster."""
    with (
        helm_python.Config(kubeconfig_content=api.kubeconfig, namespace=NAMESPACE) as config,
        helm_python.Chart.load(CHART_DIR) as chart,
    ):
        rendered = config.render(chart, values or {}, name=RELEASE, namespace=NAMESPACE, revision=2, is_upgrade=True)
    return parse_manifests(rendered)


LIVE = {
    "mcp-auth-token": "token-from-the-first-install-000000000000",
    "postgres-password": "password-from-the-first-install-0000000",
    "database-url": "ignored: always rebuilt from the password",
}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_an_upgrade_keeps_the_generated_token_and_password() -> None:
    with cluster_with(LIVE) as api:
        data = secret_data(upgrade_render(api))[SECRET_NAME]
        assert f"/api/v1/namespaces/{NAMESPACE}/secrets/{SECRET_NAME}" in api.requests
    assert data["mcp-auth-token"] == LIVE["mcp-auth-token"]
    assert data["mcp-service-token-sha256"] == sha256(LIVE["mcp-auth-token"])
    assert data["postgres-password"] == LIVE["postgres-password"]
    assert urlsplit(data["database-url"]).password == LIVE["postgres-password"]


def test_the_hash_follows_the_kept_token_whatever_the_live_secret_says() -> None:
    # A release installed before the hash existed has no such key, and a stale one is not trusted:
    # the hash is always recomputed from the token the release keeps.
    for live_hash in (None, "0" * 64):
        live = dict(LIVE) if live_hash is None else {**LIVE, "mcp-service-token-sha256": live_hash}
        with cluster_with(live) as api:
            data = secret_data(upgrade_render(api))[SECRET_NAME]
        assert data["mcp-service-token-sha256"] == sha256(LIVE["mcp-auth-token"]), live_hash


def test_an_unchanged_upgrade_does_not_roll_the_pods() -> None:
    def pod_annotations(manifests: list[Manifest]) -> list[dict[str, str]]:
        return [find(manifests, "Deployment", c)["spec"]["template"]["metadata"]["annotations"] for c in ("ui", "mcp")]

    with cluster_with(LIVE) as api:
        assert pod_annotations(upgrade_render(api)) == pod_annotations(upgrade_render(api))


def test_values_given_explicitly_win_over_the_live_secret() -> None:
    values = {"mcp": {"auth": {"token": "rotated-by-the-operator-000"}}}
    with cluster_with(LIVE) as api:
        data = secret_data(upgrade_render(api, values))[SECRET_NAME]
    assert data["mcp-auth-token"] == "rotated-by-the-operator-000"
    assert data["mcp-service-token-sha256"] == sha256("rotated-by-the-operator-000")
    assert data["postgres-password"] == LIVE["postgres-password"]


def test_a_first_install_generates_fresh_random_secrets() -> None:
    with cluster_with(None) as api:
        first = secret_data(upgrade_render(api))[SECRET_NAME]
        second = secret_data(upgrade_render(api))[SECRET_NAME]
    for key in ("mcp-auth-token", "postgres-password"):
        assert GENERATED.match(first[key]), key
        assert first[key] != second[key], f"{key} is not random"
    assert first["mcp-auth-token"] != first["postgres-password"]


def test_offline_renders_generate_secrets_too() -> None:
    # `helm template` has no cluster: lookup is empty and the chart must still produce secrets.
    data = secret_data(render())[SECRET_NAME]
    assert GENERATED.match(data["mcp-auth-token"])
    assert data["mcp-service-token-sha256"] == sha256(data["mcp-auth-token"])
    assert GENERATED.match(data["postgres-password"])


LLM_ON: Values = {"llm": {"enabled": True, "model": {"existingClaim": "team-models"}}}


def test_an_upgrade_keeps_the_model_servers_generated_key_and_does_not_roll_it() -> None:
    live = {**LIVE, "llm-api-key": "key-from-the-first-install-0000000000000"}

    def llm_annotations(manifests: list[Manifest]) -> dict[str, str]:
        annotations: dict[str, str] = find(manifests, "Deployment", "llm")["spec"]["template"]["metadata"][
            "annotations"
        ]
        return annotations

    with cluster_with(live) as api:
        first, second = upgrade_render(api, LLM_ON), upgrade_render(api, LLM_ON)
    assert secret_data(first)[SECRET_NAME]["llm-api-key"] == live["llm-api-key"]
    assert llm_annotations(first) == llm_annotations(second)
    with cluster_with(None) as api:
        fresh = secret_data(upgrade_render(api, LLM_ON))[SECRET_NAME]["llm-api-key"]
    assert GENERATED.match(fresh) and fresh != live["llm-api-key"]
