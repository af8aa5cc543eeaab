"""Single sign-on (OpenID Connect) on both tiers: the page's settings and secrets, the MCP server's
token check, the memory-backed /tmp, the Ingress buffers and routes, egress to the provider, the
values that must fail, NOTES, and that `none` and `header` modes render as they did without it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import helm_python
import pytest

from tests.helm.support import (
    SCENARIOS,
    Manifest,
    Values,
    component_pod,
    container,
    containers,
    find,
    iter_strings,
    mcp_settings,
    merge,
    notes,
    of_kind,
    pod_templates,
    quantity,
    render,
    render_raw,
    resolved_env,
    secret_data,
    secret_ref,
    selects,
)

SCENARIO = "oidc-single-sign-on"
ISSUER = "https://login.example.com/realms/todo"
MCP_URL = "https://mcp.example.com/mcp"
OIDC_SECRET = "todo-oidc"

# The smallest oidc values that render: the UI Ingress gives the redirect URL, and the MCP server
# checks the tokens the page forwards.
MINIMAL: Values = {
    "ui": {
        "auth": {"mode": "oidc", "oidc": {"issuer": ISSUER, "clientId": "todo-chatbot", "existingSecret": OIDC_SECRET}}
    },
    "ingress": {"enabled": True, "hostname": "todo.example.com", "tls": {"enabled": True}},
    "mcp": {"oidc": {"issuer": ISSUER, "audience": MCP_URL}},
}
# Fixed secrets make two renders comparable: generated ones differ on every offline render.
PINNED: Values = {
    "mcp": {"auth": {"token": "pinned-token-0123456789"}},
    "postgresql": {"auth": {"password": "pinned-pw"}},
}
UI_OIDC_VARIABLES = {
    "OIDC_ISSUER",
    "OIDC_METADATA_URL",
    "OIDC_CLIENT_ID",
    "OIDC_CLIENT_SECRET",
    "OIDC_COOKIE_SECRET",
    "OIDC_REDIRECT_URL",
    "OIDC_USER_CLAIM",
    "OIDC_SCOPES",
    "OIDC_AUTHORIZE_PARAMS",
    "OIDC_FORWARD_ACCESS_TOKEN",
}
MCP_OIDC_VARIABLES = {"MCP_OIDC_ISSUER", "MCP_OIDC_AUDIENCE", "MCP_OIDC_USER_CLAIM"}
BUFFERS = {
    "nginx.ingress.kubernetes.io/proxy-buffer-size": "16k",
    "nginx.ingress.kubernetes.io/proxy-buffers-number": "4",
    "nginx.ingress.kubernetes.io/proxy-busy-buffers-size": "32k",
}
DEFAULT_UI_ANNOTATIONS = {
    "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
    "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
    "nginx.ingress.kubernetes.io/affinity": "cookie",
    "nginx.ingress.kubernetes.io/affinity-mode": "persistent",
    "nginx.ingress.kubernetes.io/session-cookie-name": "todo-chatbot-ui",
    "nginx.ingress.kubernetes.io/session-cookie-max-age": "86400",
}


@pytest.fixture(scope="module")
def sso(renders: dict[str, list[Manifest]]) -> list[Manifest]:
    return renders[SCENARIO]


def ui_env(manifests: list[Manifest]) -> dict[str, str]:
    return resolved_env(component_pod(manifests, "ui"), "ui", manifests)


def env_names(manifests: list[Manifest]) -> set[str]:
    """Every variable any container of the release gets, from its env or its ConfigMaps."""
    config_maps = {cm["metadata"]["name"]: cm.get("data") or {} for cm in of_kind(manifests, "ConfigMap")}
    names: set[str] = set()
    for pod in pod_templates(manifests):
        for c in containers(pod):
            names |= {entry["name"] for entry in c.get("env", [])}
            for source in c.get("envFrom", []):
                names |= set(config_maps[source["configMapRef"]["name"]])
    return names


def ingress_of(manifests: list[Manifest], component: str) -> Manifest:
    return find(manifests, "Ingress", component)


def size(value: str) -> int:
    match = re.fullmatch(r"(\d+)([km]?)", value)
    assert match, value
    return int(match.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[match.group(2)]


# --- the page ----------------------------------------------------------------------------------


def test_the_page_gets_the_provider_client_and_callback(sso: list[Manifest]) -> None:
    env = ui_env(sso)
    assert env["AUTH_MODE"] == "oidc"
    assert env["OIDC_ISSUER"] == ISSUER
    assert env["OIDC_CLIENT_ID"] == "todo-chatbot"
    assert env["OIDC_REDIRECT_URL"] == "https://todo.example.com/oauth2callback"
    assert env["OIDC_USER_CLAIM"] == "email"
    assert env["OIDC_SCOPES"] == "openid email profile"
    assert json.loads(env["OIDC_AUTHORIZE_PARAMS"]) == {"resource": MCP_URL}
    assert env["OIDC_FORWARD_ACCESS_TOKEN"] == "true"
    assert "OIDC_METADATA_URL" not in env, "empty: the page derives it from the issuer"


def test_the_optional_settings_are_rendered_as_given() -> None:
    values = merge(
        MINIMAL,
        {
            "ui": {
                "auth": {
                    "oidc": {
                        "metadataUrl": "https://login.example.com/custom/openid-configuration",
                        "redirectUrl": "https://chat.example.com/oauth2callback",
                        "userClaim": "preferred_username",
                        "scopes": "openid profile offline_access",
                        "authorizeParams": {"audience": "https://todo.example.com/mcp", "prompt": "login"},
                        "forwardAccessToken": False,
                    }
                }
            }
        },
    )
    env = ui_env(render(values))
    assert env["OIDC_METADATA_URL"] == "https://login.example.com/custom/openid-configuration"
    assert env["OIDC_REDIRECT_URL"] == "https://chat.example.com/oauth2callback", "the value wins over the Ingress"
    assert env["OIDC_USER_CLAIM"] == "preferred_username"
    assert env["OIDC_SCOPES"] == "openid profile offline_access"
    assert json.loads(env["OIDC_AUTHORIZE_PARAMS"]) == {"audience": "https://todo.example.com/mcp", "prompt": "login"}
    assert env["OIDC_FORWARD_ACCESS_TOKEN"] == "false"


def test_empty_authorize_params_are_left_out() -> None:
    assert "OIDC_AUTHORIZE_PARAMS" not in ui_env(render(MINIMAL))


@pytest.mark.parametrize(
    ("ingress", "expected"),
    [
        ({"tls": {"enabled": True}}, "https://todo.example.com/oauth2callback"),
        ({"tls": {"enabled": False}}, "http://todo.example.com/oauth2callback"),
        ({"path": "/todo"}, "https://todo.example.com/todo/oauth2callback"),
        ({"path": "/todo/"}, "https://todo.example.com/todo/oauth2callback"),
    ],
)
def test_the_redirect_url_is_derived_from_the_ui_ingress(ingress: Values, expected: str) -> None:
    values = merge(MINIMAL, {"ingress": ingress})
    assert ui_env(render(values))["OIDC_REDIRECT_URL"] == expected


def test_the_client_and_cookie_secrets_come_from_the_users_secret(sso: list[Manifest]) -> None:
    ui = component_pod(sso, "ui")
    assert secret_ref(ui, "ui", "OIDC_CLIENT_SECRET") == {"name": OIDC_SECRET, "key": "oidc-client-secret"}
    assert secret_ref(ui, "ui", "OIDC_COOKIE_SECRET") == {"name": OIDC_SECRET, "key": "oidc-cookie-secret"}
    keys = {"clientSecretKey": "client", "cookieSecretKey": "cookie"}
    custom = component_pod(render(merge(MINIMAL, {"ui": {"auth": {"oidc": keys}}})), "ui")
    assert secret_ref(custom, "ui", "OIDC_CLIENT_SECRET") == {"name": OIDC_SECRET, "key": "client"}
    assert secret_ref(custom, "ui", "OIDC_COOKIE_SECRET") == {"name": OIDC_SECRET, "key": "cookie"}


def test_the_oidc_secrets_are_never_values_anywhere(sso: list[Manifest]) -> None:
    # Only secretKeyRefs: no OIDC_*SECRET variable with a literal value or in a ConfigMap, the chart
    # renders no Secret of its own for them, and nothing names the user's Secret but the UI pods.
    for pod in pod_templates(sso):
        for c in containers(pod):
            for entry in c.get("env", []):
                if entry["name"] in {"OIDC_CLIENT_SECRET", "OIDC_COOKIE_SECRET"}:
                    assert set(entry) == {"name", "valueFrom"} and set(entry["valueFrom"]) == {"secretKeyRef"}
    for config_map in of_kind(sso, "ConfigMap"):
        assert not [key for key in config_map.get("data", {}) if "SECRET" in key], config_map["metadata"]["name"]
    assert OIDC_SECRET not in secret_data(sso)
    assert not [key for data in secret_data(sso).values() for key in data if "oidc" in key]
    readers = {
        f"{pod.name}/{c['name']}"
        for pod in pod_templates(sso)
        for c in containers(pod)
        if OIDC_SECRET in iter_strings(c)
    }
    assert readers == {f"Deployment/{find(sso, 'Deployment', 'ui')['metadata']['name']}/ui"}


def test_the_page_holds_no_service_token_when_it_forwards_user_tokens(sso: list[Manifest]) -> None:
    # No pod of the release can then name a user to the MCP server: only the provider's tokens say who is calling.
    assert "MCP_AUTH_TOKEN" not in env_names(sso)
    assert "MCP_SERVICE_TOKEN_SHA256" in env_names(sso)


def test_the_page_keeps_its_service_token_when_it_does_not_forward() -> None:
    values = merge(MINIMAL, {"ui": {"auth": {"oidc": {"forwardAccessToken": False}}}})
    assert secret_ref(component_pod(render(values), "ui"), "ui", "MCP_AUTH_TOKEN") is not None


def test_tmp_is_in_memory_in_oidc_mode_only(sso: list[Manifest], default_manifests: list[Manifest]) -> None:
    def tmp_volume(manifests: list[Manifest]) -> dict[str, Any]:
        ui = component_pod(manifests, "ui")
        mounts = {m["mountPath"]: m["name"] for m in container(ui, "ui")["volumeMounts"]}
        (volume,) = [v for v in ui.spec["volumes"] if v["name"] == mounts["/tmp"]]
        return volume

    sso_tmp = tmp_volume(sso)["emptyDir"]
    assert sso_tmp["medium"] == "Memory", "the secrets written under /tmp never touch the node's disk"
    assert quantity(sso_tmp["sizeLimit"]) <= quantity("16Mi"), "small: it counts against the memory limit"
    assert tmp_volume(default_manifests)["emptyDir"] == {"sizeLimit": "64Mi"}, "on disk, as before"
    # The MCP pods write no secret: their /tmp stays as it was.
    mcp = component_pod(sso, "mcp")
    assert [v["emptyDir"] for v in mcp.spec["volumes"] if v["name"] == "tmp"] == [{"sizeLimit": "64Mi"}]


def test_a_changed_oidc_setting_rolls_the_ui_pods() -> None:
    def checksum(values: Values) -> str:
        deployment = find(render(merge(PINNED, values)), "Deployment", "ui")
        annotation: str = deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        return annotation

    other = merge(MINIMAL, {"ui": {"auth": {"oidc": {"clientId": "another-client"}}}})
    assert checksum(MINIMAL) != checksum(other)


# --- the MCP server ------------------------------------------------------------------------------


def test_the_mcp_server_and_its_migration_step_get_the_token_check(sso: list[Manifest]) -> None:
    pod = component_pod(sso, "mcp")
    for name in ("mcp", "migrate"):
        env = resolved_env(pod, name, sso)
        assert env["MCP_OIDC_ISSUER"] == ISSUER, name
        assert env["MCP_OIDC_AUDIENCE"] == MCP_URL, name
        assert env["MCP_OIDC_USER_CLAIM"] == "email", name
        assert env["MCP_PUBLIC_URL"] == MCP_URL, f"{name}: from the MCP Ingress"


def test_the_mcp_settings_accept_the_rendered_token_check(sso: list[Manifest], monkeypatch: pytest.MonkeyPatch) -> None:
    pod = component_pod(sso, "mcp")
    env = {"DATABASE_URL": "postgresql://x:y@db:5432/todo", **resolved_env(pod, "mcp", sso)}
    settings = mcp_settings(env, monkeypatch)
    assert settings.mcp_oidc_issuer == ISSUER
    assert settings.mcp_oidc_audience == MCP_URL
    assert settings.mcp_oidc_user_claim == "email"
    assert settings.mcp_public_url == MCP_URL


@pytest.mark.parametrize(
    ("mcp", "expected"),
    [
        ({}, None),  # no Ingress: the server names the URL each request came in on
        ({"oidc": {"publicUrl": "https://gateway.example.com/todo/mcp"}}, "https://gateway.example.com/todo/mcp"),
        ({"ingress": {"enabled": True, "hostname": "mcp.example.com"}}, "http://mcp.example.com/mcp"),
    ],
)
def test_the_mcp_public_url_is_the_known_public_address(mcp: Values, expected: str | None) -> None:
    manifests = render(merge(MINIMAL, {"mcp": mcp}))
    assert resolved_env(component_pod(manifests, "mcp"), "mcp", manifests).get("MCP_PUBLIC_URL") == expected
    if expected:  # the page shows the same address under API access
        assert ui_env(manifests)["MCP_PUBLIC_URL"] == expected


def test_the_mcp_server_may_take_sso_tokens_while_the_page_does_not_sign_in() -> None:
    # People's own MCP clients may sign in with the provider whatever the page does.
    manifests = render({"mcp": {"oidc": {"issuer": ISSUER, "audience": MCP_URL}}})
    assert resolved_env(component_pod(manifests, "mcp"), "mcp", manifests)["MCP_OIDC_ISSUER"] == ISSUER
    assert not UI_OIDC_VARIABLES & set(ui_env(manifests))


# --- Ingresses -----------------------------------------------------------------------------------


def test_the_ui_ingress_gets_buffers_for_the_sign_in_cookies(sso: list[Manifest]) -> None:
    annotations = ingress_of(sso, "ui")["metadata"]["annotations"]
    assert annotations == DEFAULT_UI_ANNOTATIONS | BUFFERS
    # nginx loads the configuration only if busy >= buffer size and busy < all buffers minus one.
    buffer = size(annotations["nginx.ingress.kubernetes.io/proxy-buffer-size"])
    number = int(annotations["nginx.ingress.kubernetes.io/proxy-buffers-number"])
    busy = size(annotations["nginx.ingress.kubernetes.io/proxy-busy-buffers-size"])
    assert buffer <= busy < (number - 1) * buffer
    assert buffer >= 16 * 1024, "Set-Cookie headers of several 4 KB chunks"


def test_the_users_annotations_win_and_null_drops_a_buffer_annotation() -> None:
    values = merge(
        MINIMAL,
        {
            "ingress": {
                "annotations": {"nginx.ingress.kubernetes.io/proxy-buffer-size": "8k", "example.com/team": "todo"},
                "oidcAnnotations": {"nginx.ingress.kubernetes.io/proxy-buffers-number": None},
            }
        },
    )
    annotations = ingress_of(render(values), "ui")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffer-size"] == "8k"
    assert annotations["example.com/team"] == "todo"
    assert "nginx.ingress.kubernetes.io/proxy-buffers-number" not in annotations
    assert annotations["nginx.ingress.kubernetes.io/proxy-busy-buffers-size"] == "32k"


def test_the_mcp_ingress_routes_the_protected_resource_metadata(
    sso: list[Manifest], renders: dict[str, list[Manifest]]
) -> None:
    service = find(sso, "Service", "mcp")["metadata"]["name"]
    (rule,) = ingress_of(sso, "mcp")["spec"]["rules"]
    assert [(p["path"], p["pathType"], p["backend"]["service"]["name"]) for p in rule["http"]["paths"]] == [
        ("/mcp", "Exact", service),
        ("/.well-known/oauth-protected-resource/mcp", "Exact", service),
    ]
    (plain,) = ingress_of(renders["mcp-ingress-for-personal-tokens"], "mcp")["spec"]["rules"]
    assert [p["path"] for p in plain["http"]["paths"]] == ["/mcp"], "without OIDC nothing more is routed"


# --- egress to the provider -----------------------------------------------------------------------


@pytest.mark.parametrize("issuer", [ISSUER, "https://login.example.com:8443/realms/todo"])
def test_both_tiers_may_reach_the_provider_with_network_policies_on(issuer: str) -> None:
    values = merge(MINIMAL, {"ui": {"auth": {"oidc": {"issuer": issuer}}}, "mcp": {"oidc": {"issuer": issuer}}})
    manifests = render(merge(values, {"networkPolicy": {"enabled": True}}))
    policies = of_kind(manifests, "NetworkPolicy")
    for component in ("ui", "mcp"):
        pod = component_pod(manifests, component)
        selecting = [p for p in policies if selects(p["spec"]["podSelector"]["matchLabels"], pod.labels)]
        assert selecting, f"{component}: no policy at all would prove nothing"
        for policy in selecting:
            # Policies that restrict ingress only leave egress open: discovery, token endpoint and
            # signing keys on any port of the provider.
            assert "Egress" not in policy["spec"]["policyTypes"], policy["metadata"]["name"]


# --- values that must fail ---------------------------------------------------------------------------


def without(values: Values, *path: str) -> Values:
    """values with the leaf at path set to its empty value."""
    override: Values = {}
    node = override
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = ""
    return merge(values, override)


INCONSISTENT: dict[str, tuple[Values, str]] = {
    "oidc mode without a Secret": (
        without(MINIMAL, "ui", "auth", "oidc", "existingSecret"),
        "ui.auth.mode=oidc needs ui.auth.oidc.existingSecret: the name of a Secret holding the client secret "
        "(key oidc-client-secret) and the cookie secret (key oidc-cookie-secret), e.g. kubectl create secret generic",
    ),
    "oidc mode without an issuer": (
        without(MINIMAL, "ui", "auth", "oidc", "issuer"),
        "ui.auth.mode=oidc needs ui.auth.oidc.issuer",
    ),
    "oidc mode without a client id": (
        without(MINIMAL, "ui", "auth", "oidc", "clientId"),
        "ui.auth.mode=oidc needs ui.auth.oidc.clientId",
    ),
    "oidc mode without a redirect URL or an Ingress": (
        merge(MINIMAL, {"ingress": {"enabled": False}}),
        "ui.auth.mode=oidc needs ui.auth.oidc.redirectUrl",
    ),
    "oidc mode behind a wildcard host": (
        merge(MINIMAL, {"ingress": {"hostname": "*.example.com", "tls": {"enabled": False}}}),
        "ui.auth.mode=oidc needs ui.auth.oidc.redirectUrl",
    ),
    "forwarded user tokens without the MCP server's check": (
        without(without(MINIMAL, "mcp", "oidc", "issuer"), "mcp", "oidc", "audience"),
        "ui.auth.oidc.forwardAccessToken=true sends the signed-in user's own access token to the MCP server, "
        "which then must check it: set mcp.oidc.issuer",
    ),
    "an MCP issuer without an audience": (
        {"mcp": {"oidc": {"issuer": ISSUER}}},
        "mcp.oidc.issuer is set without mcp.oidc.audience",
    ),
    "both secrets under one key": (
        merge(MINIMAL, {"ui": {"auth": {"oidc": {"cookieSecretKey": "oidc-client-secret"}}}}),
        "ui.auth.oidc.clientSecretKey and ui.auth.oidc.cookieSecretKey name the same key",
    ),
}


@pytest.mark.parametrize("values, message", list(INCONSISTENT.values()), ids=list(INCONSISTENT))
def test_incomplete_sso_values_fail_with_a_message_that_says_what_to_do(values: Values, message: str) -> None:
    with pytest.raises(helm_python.HelmError, match=re.escape(message)):
        render_raw(values)


def test_the_audience_message_names_the_mcp_public_url() -> None:
    values = {"mcp": {"oidc": {"issuer": ISSUER}, "ingress": {"enabled": True, "hostname": "mcp.example.com"}}}
    with pytest.raises(helm_python.HelmError, match=re.escape("(e.g. http://mcp.example.com/mcp)")):
        render_raw(values)


def test_forward_access_token_off_needs_no_mcp_issuer() -> None:
    values = without(without(MINIMAL, "mcp", "oidc", "issuer"), "mcp", "oidc", "audience")
    manifests = render(merge(values, {"ui": {"auth": {"oidc": {"forwardAccessToken": False}}}}))
    assert ui_env(manifests)["OIDC_FORWARD_ACCESS_TOKEN"] == "false"
    assert not MCP_OIDC_VARIABLES & env_names(manifests)


SCHEMA_VIOLATIONS: dict[str, tuple[Values, str]] = {
    "forwardAccessToken as a string": (
        {"ui": {"auth": {"oidc": {"forwardAccessToken": "yes"}}}},
        "/ui/auth/oidc/forwardAccessToken",
    ),
    "authorizeParams as a list": (
        {"ui": {"auth": {"oidc": {"authorizeParams": ["audience"]}}}},
        "/ui/auth/oidc/authorizeParams",
    ),
    "an authorize parameter that is not a string": (
        {"ui": {"auth": {"oidc": {"authorizeParams": {"max_age": 300}}}}},
        "/ui/auth/oidc/authorizeParams/max_age",
    ),
    "an authorize parameter the login flow sets itself": (
        {"ui": {"auth": {"oidc": {"authorizeParams": {"redirect_uri": "https://evil.example.com/"}}}}},
        "invalid propertyName 'redirect_uri'",
    ),
    "scopes without openid": ({"ui": {"auth": {"oidc": {"scopes": "email profile"}}}}, "/ui/auth/oidc/scopes"),
    "scopes as a list": ({"ui": {"auth": {"oidc": {"scopes": ["openid"]}}}}, "/ui/auth/oidc/scopes"),
    "an issuer without a scheme": ({"ui": {"auth": {"oidc": {"issuer": "login.example.com"}}}}, "/ui/auth/oidc/issuer"),
    "a redirect URL that is not the callback": (
        {"ui": {"auth": {"oidc": {"redirectUrl": "https://todo.example.com/"}}}},
        "/ui/auth/oidc/redirectUrl",
    ),
    "a Secret name that is no Kubernetes name": (
        {"ui": {"auth": {"oidc": {"existingSecret": "Todo OIDC"}}}},
        "/ui/auth/oidc/existingSecret",
    ),
    "a client secret given as a value": (
        {"ui": {"auth": {"oidc": {"clientSecret": "s3cret"}}}},
        "'clientSecret' not allowed",
    ),
    "an MCP audience as a number": ({"mcp": {"oidc": {"audience": 42}}}, "/mcp/oidc/audience"),
    "an MCP public URL without a path": (
        {"mcp": {"oidc": {"publicUrl": "https://mcp.example.com"}}},
        "/mcp/oidc/publicUrl",
    ),
    "unknown key in mcp.oidc": ({"mcp": {"oidc": {"issuerUrl": ISSUER}}}, "'issuerUrl' not allowed"),
    "OIDC annotations as a list": ({"ingress": {"oidcAnnotations": ["a"]}}, "/ingress/oidcAnnotations"),
    "OIDC annotations on the MCP Ingress": (
        {"mcp": {"ingress": {"oidcAnnotations": {}}}},
        "'oidcAnnotations' not allowed",
    ),
}


@pytest.mark.parametrize("values, offending", list(SCHEMA_VIOLATIONS.values()), ids=list(SCHEMA_VIOLATIONS))
def test_the_schema_rejects_wrong_sso_values(values: Values, offending: str) -> None:
    with pytest.raises(helm_python.HelmValuesError) as raised:
        render_raw(values)
    assert offending in str(raised.value)


# --- NOTES ---------------------------------------------------------------------------------------------


def test_notes_give_the_redirect_url_and_the_mcp_discovery_url() -> None:
    text = notes(SCENARIOS[SCENARIO])
    assert "Register this redirect URL with your provider" in text
    assert "    https://todo.example.com/oauth2callback\n" in text
    assert 'Secret "todo-oidc"' in text
    assert "    https://mcp.example.com/.well-known/oauth-protected-resource/mcp\n" in text
    assert "WARNING: the redirect URL is plain http" not in text


def test_notes_warn_about_a_plain_http_callback() -> None:
    text = notes(merge(MINIMAL, {"ingress": {"tls": {"enabled": False}}}))
    assert "http://todo.example.com/oauth2callback" in text
    assert "WARNING: the redirect URL is plain http" in text


def test_notes_say_nothing_of_sso_without_it() -> None:
    text = notes({})
    assert "oauth2callback" not in text and "oauth-protected-resource" not in text and "single sign-on" not in text


# --- none and header modes, as before ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["none", "header"])
def test_none_and_header_modes_render_as_without_any_oidc_values(mode: str) -> None:
    # A filled-in ui.auth.oidc block changes nothing until the mode is oidc.
    base = merge(PINNED, {"ui": {"auth": {"mode": mode}}, "ingress": {"enabled": True, "hostname": "todo.example.com"}})
    oidc_block = {**MINIMAL["ui"]["auth"]["oidc"], "authorizeParams": {"resource": MCP_URL}}
    filled = merge(base, {"ui": {"auth": {"oidc": oidc_block}}})
    assert render(filled) == render(base)


@pytest.mark.parametrize("scenario", sorted(set(SCENARIOS) - {SCENARIO}))
def test_other_scenarios_get_no_oidc_settings(scenario: str, renders: dict[str, list[Manifest]]) -> None:
    manifests = renders[scenario]
    assert not (UI_OIDC_VARIABLES | MCP_OIDC_VARIABLES) & env_names(manifests)
    assert "MCP_PUBLIC_URL" not in resolved_env(component_pod(manifests, "mcp"), "mcp", manifests)
    ui_config = find(manifests, "ConfigMap", "ui")["data"]
    assert set(ui_config) - {"OPENAI_BASE_URL", "MODEL_TIMEOUT"} == {
        "MCP_URL",
        "MCP_PUBLIC_URL",
        "OPENAI_MODEL",
        "AUTH_MODE",
        "AUTH_HEADER",
        "DEFAULT_USER",
        "LOG_LEVEL",
    }
    for ingress in of_kind(manifests, "Ingress"):
        assert not set(BUFFERS) & set(ingress["metadata"].get("annotations") or {}), ingress["metadata"]["name"]


def test_the_readme_single_sign_on_install_renders_as_it_says() -> None:
    """The README's `helm upgrade --install` under "Single sign-on", flag by flag, renders a page that signs in at
    the issuer with the derived redirect URL and forwards tokens to an MCP server checking that audience."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Single sign-on", 1)[1].split("\n## ", 1)[0]
    command = re.search(r"helm upgrade --install todo-chatbot \./helm \\\n((?:\s+--set .*\n)+)", section)
    assert command, "the install command"
    overrides: Values = {}
    for flag in " ".join(line.strip(" \\") for line in command.group(1).splitlines()).split("--set")[1:]:
        path, _, value = flag.strip().partition("=")
        node = overrides
        *parents, last = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = {"true": True, "false": False}.get(value, value)
    manifests = render(overrides, release="todo-chatbot", namespace="default")
    ui = resolved_env(component_pod(manifests, "ui"), "ui", manifests)
    assert ui["AUTH_MODE"] == "oidc"
    assert ui["OIDC_REDIRECT_URL"] == "https://todo.example.com/oauth2callback"
    assert f"`{ui['OIDC_REDIRECT_URL']}`" in section
    assert ui["OIDC_ISSUER"] == "https://login.example.com/realms/staff"
    assert ui["OIDC_FORWARD_ACCESS_TOKEN"] == "true"
    mcp = resolved_env(component_pod(manifests, "mcp"), "mcp", manifests)
    assert mcp["MCP_OIDC_AUDIENCE"] == mcp["MCP_PUBLIC_URL"] == "https://todo.example.com/mcp"
    assert 'resource_metadata="https://todo.example.com/.well-known/oauth-protected-resource/mcp"' in section
    secret = "kubectl create secret generic " + overrides["ui"]["auth"]["oidc"]["existingSecret"]
    assert secret in section
