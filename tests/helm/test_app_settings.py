"""The MCP server's own settings class accepts the environment the chart renders, in every container
that runs mcp_server (the server and the migration step) and every values scenario."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import pytest

from tests.helm.support import (
    SCENARIOS,
    Manifest,
    PodTemplate,
    component_pod,
    container,
    containers,
    env_value,
    load_values_file,
    mcp_settings,
    pod_templates,
    resolved_env,
)

# Stand-ins for values that live in Secrets the chart does not render (existingSecret scenarios).
EXISTING_TOKEN = "a-token-from-an-existing-secret"
EXISTING_SECRET_VALUES = {
    "DATABASE_URL": "postgresql://todo:pass@db.example.com:5432/todo",
    "MCP_AUTH_TOKEN": EXISTING_TOKEN,
    "MCP_SERVICE_TOKEN_SHA256": hashlib.sha256(EXISTING_TOKEN.encode()).hexdigest(),
}


def mcp_server_containers(manifests: list[Manifest]) -> list[tuple[PodTemplate, str]]:
    return [
        (pod, c["name"])
        for pod in pod_templates(manifests)
        for c in containers(pod)
        if "mcp_server" in " ".join(c.get("command", []))
    ]


DEFAULT_ORIGINS = ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"]


def host_allowed(host: str, patterns: list[str]) -> bool:
    """The SDK's Host check: an exact entry, or `name:*` for name:<any port>."""
    return host in patterns or any(p.endswith(":*") and host.startswith(p[:-1]) for p in patterns)


def test_server_and_migration_both_run_mcp_server(manifests: list[Manifest]) -> None:
    commands = [" ".join(container(pod, name)["command"]) for pod, name in mcp_server_containers(manifests)]
    assert any(c.endswith("python -m mcp_server") for c in commands)
    assert any("python -m mcp_server migrate" in c for c in commands)


def test_mcp_settings_accept_the_rendered_environment(
    manifests: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    mcp = component_pod(manifests, "mcp")
    port = container(mcp, "mcp")["ports"][0]["containerPort"]
    ui_url = urlsplit(env_value(component_pod(manifests, "ui"), "ui", "MCP_URL", manifests) or "")
    for pod, name in mcp_server_containers(manifests):
        env = {**EXISTING_SECRET_VALUES, **resolved_env(pod, name, manifests)}
        with monkeypatch.context() as isolated:
            settings = mcp_settings(env, isolated)
        assert settings.mcp_host == "0.0.0.0", name
        assert settings.mcp_port == port, name
        assert settings.mcp_migrate_on_start is False, name
        assert settings.sqlalchemy_url.startswith("postgresql+psycopg://"), name
        assert host_allowed(ui_url.netloc, settings.host_patterns), f"{name}: {ui_url.netloc}"
        assert settings.mcp_allowed_origins, name


def test_the_allowed_origins_reach_the_server_as_given(
    scenario: str, manifests: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    wanted = SCENARIOS[scenario].get("mcp", {}).get("allowedOrigins", DEFAULT_ORIGINS)
    pod = component_pod(manifests, "mcp")
    settings = mcp_settings({**EXISTING_SECRET_VALUES, **resolved_env(pod, "mcp", manifests)}, monkeypatch)
    assert settings.mcp_allowed_origins == wanted


def test_the_chart_default_origins_are_the_servers_own() -> None:
    from mcp_server.settings import Settings

    assert load_values_file("values.yaml")["mcp"]["allowedOrigins"] == DEFAULT_ORIGINS
    assert Settings.model_fields["mcp_allowed_origins"].default == DEFAULT_ORIGINS


def test_the_mcp_ingress_host_passes_the_servers_host_check(
    renders: dict[str, list[Manifest]], monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = renders["mcp-ingress-for-personal-tokens"]
    pod = component_pod(manifests, "mcp")
    settings = mcp_settings({**EXISTING_SECRET_VALUES, **resolved_env(pod, "mcp", manifests)}, monkeypatch)
    for host in ("mcp.example.com", "mcp.example.com:443"):
        assert host_allowed(host, settings.host_patterns), host
    assert not host_allowed("other.example.com", settings.host_patterns)


def test_ui_settings_accept_the_rendered_environment(
    manifests: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.settings import UISettings

    ui = component_pod(manifests, "ui")
    env = {
        "OPENAI_API_KEY": "sk-from-an-existing-secret",
        # ui.auth.oidc.existingSecret: always a Secret of the user's
        "OIDC_CLIENT_SECRET": "a-client-secret-from-an-existing-secret",
        "OIDC_COOKIE_SECRET": "a-cookie-secret-from-an-existing-secret-0123456789",
        **EXISTING_SECRET_VALUES,
        **resolved_env(ui, "ui", manifests),
    }
    for name in UISettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = UISettings()
    assert urlsplit(settings.mcp_url).path == "/mcp"
    assert settings.mcp_auth_token.get_secret_value(), "the UI gets the service token"
    assert settings.mcp_public_url is not None and urlsplit(settings.mcp_public_url).path == "/mcp"
    assert settings.auth_mode in ("none", "header", "oidc")
