"""The pieces find each other: Services select pods, names in settings are real Services, secret
references resolve, NetworkPolicies admit exactly the intended peers, and no secret leaks into
plain configuration."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from tests.helm.support import (
    NAMESPACE,
    SCENARIOS,
    Manifest,
    component_pod,
    container,
    containers,
    env_value,
    find,
    iter_strings,
    labels,
    of_kind,
    pod_templates,
    render,
    secret_data,
    selects,
)

SECRET_LIKE = re.compile(r"TOKEN|PASSWORD|KEY|SECRET|DATABASE_URL", re.IGNORECASE)
NOT_SECRET = {"OIDC_FORWARD_ACCESS_TOKEN"}  # names that match SECRET_LIKE but hold a switch (true/false)


# --- Services and DNS -------------------------------------------------------------------------


def test_every_service_selects_the_pods_of_a_workload(manifests: list[Manifest]) -> None:
    pods = [p for p in pod_templates(manifests) if p.long_running]
    for service in of_kind(manifests, "Service"):
        selector = service["spec"]["selector"]
        selected = [p for p in pods if selects(selector, p.labels)]
        assert len(selected) == 1, f"Service/{service['metadata']['name']} selects {[p.name for p in selected]}"
        (pod,) = selected
        port_names = {port["name"] for c in containers(pod) for port in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, service["metadata"]["name"]


def unresolved(url: str, service_ports: dict[str, set[int]]) -> str | None:
    """Why an in-cluster URL does not reach a Service of the release, or None when it does.
    Accepted host forms: `name`, `name.ns`, `name.ns.svc` and `name.ns.svc.cluster.local`."""
    parts = urlsplit(url)
    name, _, rest = (parts.hostname or "").partition(".")
    if name not in service_ports:
        return f"no Service {name!r}"
    if rest not in ("", NAMESPACE, f"{NAMESPACE}.svc", f"{NAMESPACE}.svc.cluster.local"):
        return f"not the release namespace: {rest!r}"
    if parts.port is not None and parts.port not in service_ports[name]:
        return f"Service {name} has no port {parts.port}"
    return None


def test_urls_in_settings_and_secrets_reach_services_of_the_release(manifests: list[Manifest]) -> None:
    service_ports = {
        s["metadata"]["name"]: {p["port"] for p in s["spec"]["ports"]} for s in of_kind(manifests, "Service")
    }
    urls: dict[str, str] = {}
    for pod in pod_templates(manifests):
        for c in containers(pod):
            for entry in c.get("env", []):
                if str(entry.get("value", "")).startswith("http"):
                    urls[f"{pod.name}/{c['name']}/{entry['name']}"] = entry["value"]
    for config_map in of_kind(manifests, "ConfigMap"):
        for key, value in (config_map.get("data") or {}).items():
            if value.startswith("http"):
                urls[f"ConfigMap/{config_map['metadata']['name']}/{key}"] = value
    for name, data in secret_data(manifests).items():
        if "database-url" in data:
            urls[f"Secret/{name}/database-url"] = data["database-url"]
    # localhost is the user's own machine (the `kubectl port-forward` address the page shows), not a Service.
    in_cluster = {
        where: url
        for where, url in urls.items()
        if (".svc" in url or "." not in urlsplit(url).netloc) and urlsplit(url).hostname != "localhost"
    }
    assert in_cluster, "expected the UI's MCP_URL at least"
    problems = {where: reason for where, url in in_cluster.items() if (reason := unresolved(url, service_ports))}
    assert problems == {}


def test_ui_reaches_mcp_by_its_service_dns_name_and_port(manifests: list[Manifest]) -> None:
    url = env_value(component_pod(manifests, "ui"), "ui", "MCP_URL", manifests)
    assert url is not None
    mcp_service = find(manifests, "Service", "mcp")
    parts = urlsplit(url)
    assert parts.scheme == "http" and parts.path == "/mcp"
    assert parts.hostname == f"{mcp_service['metadata']['name']}.{NAMESPACE}.svc.cluster.local"
    assert parts.port == mcp_service["spec"]["ports"][0]["port"]


def test_mcp_accepts_the_host_names_its_clients_send(manifests: list[Manifest]) -> None:
    allowed = (env_value(component_pod(manifests, "mcp"), "mcp", "MCP_ALLOWED_HOSTS", manifests) or "").split(",")
    short = find(manifests, "Service", "mcp")["metadata"]["name"]
    for host in (short, f"{short}.{NAMESPACE}.svc", f"{short}.{NAMESPACE}.svc.cluster.local", "localhost"):
        assert f"{host}:*" in allowed, host
    ui_url = env_value(component_pod(manifests, "ui"), "ui", "MCP_URL", manifests) or ""
    assert f"{urlsplit(ui_url).hostname}:*" in allowed


def test_the_bundled_database_url_points_at_the_postgres_service_with_the_generated_password(
    default_manifests: list[Manifest],
) -> None:
    (data,) = secret_data(default_manifests).values()
    url = urlsplit(data["database-url"])
    assert url.scheme == "postgresql"
    (service,) = [
        s
        for s in of_kind(default_manifests, "Service")
        if labels(s)["app.kubernetes.io/component"] == "postgresql" and s["spec"].get("clusterIP") != "None"
    ]
    assert url.hostname == f"{service['metadata']['name']}.todo.svc.cluster.local"
    assert url.port == service["spec"]["ports"][0]["port"]
    assert url.password == data["postgres-password"] and len(url.password) >= 32
    postgres = container(component_pod(default_manifests, "postgresql"), "postgresql")
    password_ref = next(e for e in postgres["env"] if e["name"] == "POSTGRES_PASSWORD")["valueFrom"]["secretKeyRef"]
    assert password_ref["key"] == "postgres-password"


# --- secrets ----------------------------------------------------------------------------------


def test_secret_and_config_map_references_resolve(scenario: str, manifests: list[Manifest]) -> None:
    secrets = secret_data(manifests)
    config_maps = {c["metadata"]["name"] for c in of_kind(manifests, "ConfigMap")}
    values = SCENARIOS[scenario]
    existing = {
        values.get("mcp", {}).get("auth", {}).get("existingSecret"),
        values.get("openai", {}).get("existingSecret"),
        values.get("database", {}).get("external", {}).get("existingSecret"),
        values.get("llm", {}).get("auth", {}).get("existingSecret"),
        values.get("ui", {}).get("auth", {}).get("oidc", {}).get("existingSecret"),
    } - {None}
    for pod in pod_templates(manifests):
        for c in containers(pod):
            for entry in c.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref is None:
                    continue
                where = f"{pod.name}/{c['name']}/{entry['name']}"
                if ref["name"] in existing:
                    continue  # the user's Secret: the chart cannot see inside it
                assert ref["name"] in secrets, f"{where}: no Secret {ref['name']}"
                assert ref["key"] in secrets[ref["name"]], f"{where}: no key {ref['key']}"
            for source in c.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps


def test_an_existing_secret_replaces_the_generated_one(renders: dict[str, list[Manifest]]) -> None:
    manifests = renders["every-secret-external"]
    assert of_kind(manifests, "Secret") == []
    refs = {
        entry["name"]: entry["valueFrom"]["secretKeyRef"]
        for pod in pod_templates(manifests)
        for c in containers(pod)
        for entry in c.get("env", [])
        if "valueFrom" in entry
    }
    assert refs["MCP_AUTH_TOKEN"] == {"name": "team-mcp", "key": "token"}
    assert refs["MCP_SERVICE_TOKEN_SHA256"] == {"name": "team-mcp", "key": "digest"}
    assert refs["DATABASE_URL"] == {"name": "team-db", "key": "url"}
    assert refs["OPENAI_API_KEY"] == {"name": "team-openai", "key": "openai-api-key"}


def test_without_a_model_key_the_ui_gets_no_openai_key_variable(default_manifests: list[Manifest]) -> None:
    ui = container(component_pod(default_manifests, "ui"), "ui")
    assert "OPENAI_API_KEY" not in {e["name"] for e in ui["env"]}


def secret_values(manifests: list[Manifest]) -> set[str]:
    found = {value for data in secret_data(manifests).values() for value in data.values()}
    for data in secret_data(manifests).values():
        if "database-url" in data and (password := urlsplit(data["database-url"]).password):
            found.add(password)
    return {value for value in found if len(value) >= 6}


def leaks(manifests: list[Manifest]) -> list[str]:
    """Objects other than Secrets whose text contains a secret value of the render."""
    secrets = secret_values(manifests)
    return [
        f"{m['kind']}/{m['metadata']['name']}"
        for m in manifests
        if m["kind"] != "Secret" and any(s in "\n".join(iter_strings(m)) for s in secrets)
    ]


def test_no_secret_value_appears_outside_secrets(manifests: list[Manifest]) -> None:
    assert secret_values(manifests) or not of_kind(manifests, "Secret")
    assert leaks(manifests) == []


def test_the_leak_check_finds_a_token_planted_in_a_config_map(default_manifests: list[Manifest]) -> None:
    token = secret_data(default_manifests)["demo-todo-chatbot"]["mcp-auth-token"]
    planted = {"kind": "ConfigMap", "metadata": {"name": "planted"}, "data": {"NOTE": f"token={token}"}}
    assert leaks([*default_manifests, planted]) == ["ConfigMap/planted"]


def test_secret_like_settings_are_never_plain_values(manifests: list[Manifest]) -> None:
    for config_map in of_kind(manifests, "ConfigMap"):
        secret_like = [k for k in config_map.get("data", {}) if SECRET_LIKE.search(k) and k not in NOT_SECRET]
        assert secret_like == [], config_map["metadata"]["name"]
    for pod in pod_templates(manifests):
        for c in containers(pod):
            literal = [
                e["name"]
                for e in c.get("env", [])
                if SECRET_LIKE.search(e["name"]) and e["name"] not in NOT_SECRET and "value" in e
            ]
            assert literal == [], f"{pod.name}/{c['name']}"


# --- NetworkPolicies --------------------------------------------------------------------------


def peers(policy: Manifest) -> list[dict[str, Any]]:
    return [peer for rule in policy["spec"].get("ingress", []) for peer in rule.get("from", [])]


def test_network_policies_select_real_pods(manifests: list[Manifest]) -> None:
    pods = pod_templates(manifests)
    for policy in of_kind(manifests, "NetworkPolicy"):
        name = policy["metadata"]["name"]
        assert any(selects(policy["spec"]["podSelector"]["matchLabels"], p.labels) for p in pods), name
        for peer in peers(policy):
            if "namespaceSelector" in peer:
                continue  # another namespace's pods (the metrics scraper)
            assert any(selects(peer["podSelector"]["matchLabels"], p.labels) for p in pods), f"{name}: {peer}"


def admitted_components(policy: Manifest) -> set[str]:
    return {
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for peer in peers(policy)
        if "podSelector" in peer and "namespaceSelector" not in peer
    }


def test_mcp_admits_only_the_ui_and_the_helm_test_pod(manifests: list[Manifest]) -> None:
    policy = find(manifests, "NetworkPolicy", "mcp")
    assert admitted_components(policy) == {"ui", "test"}
    test_pod = component_pod(manifests, "test")
    assert any(selects(p["podSelector"]["matchLabels"], test_pod.labels) for p in peers(policy) if "podSelector" in p)


def namespace_peers(manifests: list[Manifest]) -> list[dict[str, Any]]:
    return [p for p in peers(find(manifests, "NetworkPolicy", "mcp")) if "namespaceSelector" in p]


def test_mcp_admits_the_metrics_namespace_only_when_asked(renders: dict[str, list[Manifest]]) -> None:
    assert namespace_peers(renders["default"]) == []
    (peer,) = namespace_peers(renders["external-db-ingress-autoscaling-monitoring"])
    assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}


def test_mcp_admits_the_ingress_controller_only_with_the_mcp_ingress(renders: dict[str, list[Manifest]]) -> None:
    manifests = renders["mcp-ingress-for-personal-tokens"]
    (peer,) = namespace_peers(manifests)
    assert peer == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}},
    }
    (rule,) = [r for r in find(manifests, "NetworkPolicy", "mcp")["spec"]["ingress"] if peer in r["from"]]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    # The defaults match ingress-nginx (its chart, and `minikube addons enable ingress`).
    (default,) = namespace_peers(render({"mcp": {"ingress": {"enabled": True}}}))
    assert default == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
    }


def test_one_controller_selector_alone_keeps_its_kubernetes_meaning() -> None:
    # Not merged with the ingress-nginx fallback: that applies only when both are empty.
    def controller(selectors: dict[str, Any]) -> list[dict[str, Any]]:
        values = {"mcp": {"ingress": {"enabled": True}}, "networkPolicy": {"mcp": {"ingressController": selectors}}}
        return namespace_peers(render(values))

    team = {"matchLabels": {"team": "edge"}}
    assert controller({"namespaceSelector": team}) == [{"namespaceSelector": team}]  # any pod there
    assert controller({"podSelector": team}) == [{"namespaceSelector": {}, "podSelector": team}]  # any namespace


def test_the_mcp_ingress_host_is_an_allowed_host(renders: dict[str, list[Manifest]]) -> None:
    def allowed(manifests: list[Manifest]) -> list[str]:
        return (env_value(component_pod(manifests, "mcp"), "mcp", "MCP_ALLOWED_HOSTS", manifests) or "").split(",")

    assert "mcp.example.com:*" in allowed(renders["mcp-ingress-for-personal-tokens"])
    assert not [host for host in allowed(renders["default"]) if "example.com" in host or "todo-chatbot.local" in host]


def test_the_allowed_origins_reach_the_mcp_config_map(scenario: str, manifests: list[Manifest]) -> None:
    wanted = SCENARIOS[scenario].get("mcp", {}).get("allowedOrigins")
    origins = find(manifests, "ConfigMap", "mcp")["data"]["MCP_ALLOWED_ORIGINS"]
    assert origins == ",".join(wanted or ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"])


def test_postgres_admits_only_mcp_and_the_migration_job(renders: dict[str, list[Manifest]]) -> None:
    assert admitted_components(find(renders["default"], "NetworkPolicy", "postgresql")) == {"mcp"}
    job_mode = renders["bundled-db-migration-job"]
    assert admitted_components(find(job_mode, "NetworkPolicy", "postgresql")) == {"mcp", "migrations"}
    job_pod = component_pod(job_mode, "migrations")
    assert job_pod.owner["kind"] == "Job"


def test_ui_accepts_anyone_on_its_http_port_only(manifests: list[Manifest]) -> None:
    policy = find(manifests, "NetworkPolicy", "ui")
    (rule,) = policy["spec"]["ingress"]
    assert "from" not in rule
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert policy["spec"]["policyTypes"] == ["Ingress"]


def test_every_tier_has_a_network_policy(manifests: list[Manifest]) -> None:
    protected = {labels(p)["app.kubernetes.io/component"] for p in of_kind(manifests, "NetworkPolicy")}
    long_running = {p.labels["app.kubernetes.io/component"] for p in pod_templates(manifests) if p.long_running}
    assert long_running <= protected
