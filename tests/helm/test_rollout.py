"""How the release scales, rolls, migrates and is reached: replicas and autoscalers, disruption
budgets, config checksums, the migration step, sticky UI traffic, monitoring, `helm test` and NOTES."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helm.support import (
    SCENARIOS,
    Manifest,
    Values,
    component_pod,
    container,
    find,
    is_hook,
    labels,
    merge,
    notes,
    of_kind,
    render,
    selects,
)

# Fixed secrets make two renders comparable: generated ones differ on every offline render.
PINNED: Values = {
    "mcp": {"auth": {"token": "pinned-token-0123456789"}},
    "postgresql": {"auth": {"password": "pinned-pw"}},
}


def checksums(manifests: list[Manifest]) -> dict[str, dict[str, str]]:
    return {
        component: {
            key: value
            for key, value in find(manifests, "Deployment", component)["spec"]["template"]["metadata"][
                "annotations"
            ].items()
            if key.startswith("checksum/")
        }
        for component in ("ui", "mcp")
    }


# --- replicas, autoscaling, disruption budgets ------------------------------------------------


def test_both_tiers_run_two_replicas_by_default(default_manifests: list[Manifest]) -> None:
    for component in ("ui", "mcp"):
        assert find(default_manifests, "Deployment", component)["spec"]["replicas"] == 2


def test_an_enabled_autoscaler_owns_the_replica_count(renders: dict[str, list[Manifest]]) -> None:
    manifests = renders["external-db-ingress-autoscaling-monitoring"]
    for component in ("ui", "mcp"):
        deployment = find(manifests, "Deployment", component)
        assert "replicas" not in deployment["spec"]
        hpa = find(manifests, "HorizontalPodAutoscaler", component)
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": deployment["metadata"]["name"],
        }
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    ui_metrics = {m["resource"]["name"] for m in find(manifests, "HorizontalPodAutoscaler", "ui")["spec"]["metrics"]}
    assert ui_metrics == {"cpu", "memory"}


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("default", {"ui", "mcp"}),
        ("minikube", set()),
        ("external-db-ingress-autoscaling-monitoring", {"ui", "mcp"}),
    ],
)
def test_disruption_budgets_exist_only_where_a_tier_has_more_than_one_pod(
    renders: dict[str, list[Manifest]], scenario: str, expected: set[str]
) -> None:
    manifests = renders[scenario]
    budgets = of_kind(manifests, "PodDisruptionBudget")
    assert {labels(b)["app.kubernetes.io/component"] for b in budgets} == expected
    for budget in budgets:
        assert budget["apiVersion"] == "policy/v1"
        assert budget["spec"]["minAvailable"] == 1
        component = labels(budget)["app.kubernetes.io/component"]
        pod_labels = find(manifests, "Deployment", component)["spec"]["template"]["metadata"]["labels"]
        assert selects(budget["spec"]["selector"]["matchLabels"], pod_labels)


def test_one_replica_with_autoscaling_still_gets_a_budget() -> None:
    values = {"ui": {"replicaCount": 1, "autoscaling": {"enabled": True}}}
    assert find(render(values), "PodDisruptionBudget", "ui")["spec"]["minAvailable"] == 1


# --- checksums roll pods on config changes ----------------------------------------------------


def test_rendering_twice_gives_the_same_checksums() -> None:
    assert checksums(render(PINNED)) == checksums(render(PINNED))


@pytest.mark.parametrize(
    ("change", "rolled"),
    [
        ({"ui": {"auth": {"defaultUser": "someone@example.com"}}}, {("ui", "checksum/config")}),
        ({"openai": {"model": "gpt-4.1"}}, {("ui", "checksum/config")}),
        ({"mcp": {"logLevel": "DEBUG"}}, {("mcp", "checksum/config")}),
        ({"mcp": {"dbPoolSize": 20}}, {("mcp", "checksum/config")}),
        # The UI follows the MCP Service port through MCP_URL.
        ({"mcp": {"service": {"port": 9000}}}, {("ui", "checksum/config")}),
        (
            {"mcp": {"auth": {"token": "rotated-token-0123456789"}}},
            {("ui", "checksum/secret"), ("mcp", "checksum/secret")},
        ),
        ({"openai": {"apiKey": "sk-new"}}, {("ui", "checksum/secret")}),
        ({"postgresql": {"auth": {"password": "another-pw"}}}, {("mcp", "checksum/secret")}),
    ],
)
def test_a_config_change_rolls_the_pods_that_read_it(change: Values, rolled: set[tuple[str, str]]) -> None:
    before = checksums(render(PINNED))
    after = checksums(render(merge(PINNED, change)))
    changed = {
        (component, key)
        for component, annotations in before.items()
        for key, value in annotations.items()
        if after[component][key] != value
    }
    assert changed == rolled


# --- migrations -------------------------------------------------------------------------------


def migrate_container(manifests: list[Manifest]) -> dict[str, Any]:
    mcp = find(manifests, "Deployment", "mcp")["spec"]["template"]["spec"]
    (init,) = mcp["initContainers"]
    return dict(init)


def test_each_mcp_pod_migrates_before_it_serves_by_default(default_manifests: list[Manifest]) -> None:
    init = migrate_container(default_manifests)
    mcp = container(component_pod(default_manifests, "mcp"), "mcp")
    assert init["image"] == mcp["image"]
    assert "python -m mcp_server migrate" in init["command"][-1]
    # `migrate` loads the server's whole configuration: it gets the same environment.
    assert (init["envFrom"], init["env"]) == (mcp["envFrom"], mcp["env"])
    assert of_kind(default_manifests, "Job") == []


def test_job_mode_migrates_in_a_post_install_pre_upgrade_hook(renders: dict[str, list[Manifest]]) -> None:
    manifests = renders["bundled-db-migration-job"]
    (job,) = of_kind(manifests, "Job")
    annotations = job["metadata"]["annotations"]
    # Never pre-install: the bundled database does not exist before the install.
    assert set(annotations["helm.sh/hook"].split(",")) == {"post-install", "pre-upgrade"}
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert "python -m mcp_server migrate" in migrate["command"][-1]
    assert migrate["image"] == container(component_pod(manifests, "mcp"), "mcp")["image"]
    assert "initContainers" not in find(manifests, "Deployment", "mcp")["spec"]["template"]["spec"]


# --- traffic to the UI ------------------------------------------------------------------------


def test_ui_service_keeps_each_browser_on_one_replica(manifests: list[Manifest]) -> None:
    service = find(manifests, "Service", "ui")
    assert service["spec"]["sessionAffinity"] == "ClientIP"
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8501, "targetPort": "http", "protocol": "TCP"}
        | ({"nodePort": service["spec"]["ports"][0]["nodePort"]} if "nodePort" in service["spec"]["ports"][0] else {})
    ]


def test_only_the_ui_service_can_leave_the_cluster(manifests: list[Manifest]) -> None:
    for service in of_kind(manifests, "Service"):
        if labels(service)["app.kubernetes.io/component"] != "ui":
            assert service["spec"]["type"] == "ClusterIP", service["metadata"]["name"]


def test_ingress_routes_to_the_ui_and_keeps_websockets_sticky_and_open(renders: dict[str, list[Manifest]]) -> None:
    manifests = renders["external-db-ingress-autoscaling-monitoring"]
    (ingress,) = of_kind(manifests, "Ingress")
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "todo.example.com"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": find(manifests, "Service", "ui")["metadata"]["name"], "port": {"name": "http"}}
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    assert ingress["spec"]["tls"] == [{"hosts": ["todo.example.com"], "secretName": "todo.example.com-tls"}]


# --- monitoring -------------------------------------------------------------------------------


def test_service_monitor_is_off_by_default(default_manifests: list[Manifest]) -> None:
    assert of_kind(default_manifests, "ServiceMonitor") == []


def test_service_monitor_scrapes_mcp_metrics_through_its_service(renders: dict[str, list[Manifest]]) -> None:
    manifests = renders["external-db-ingress-autoscaling-monitoring"]
    (monitor,) = of_kind(manifests, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert labels(monitor)["release"] == "prometheus"
    selector = monitor["spec"]["selector"]["matchLabels"]
    selected = [s for s in of_kind(manifests, "Service") if selects(selector, labels(s))]
    assert [labels(s)["app.kubernetes.io/component"] for s in selected] == ["mcp"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {p["name"] for p in selected[0]["spec"]["ports"]}


# --- helm test --------------------------------------------------------------------------------


def test_helm_test_pod_is_a_test_hook_that_calls_both_tiers(default_manifests: list[Manifest]) -> None:
    (pod,) = of_kind(default_manifests, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["restartPolicy"] == "Never"
    (smoke,) = pod["spec"]["containers"]
    assert smoke["image"] == container(component_pod(default_manifests, "mcp"), "mcp")["image"]
    assert smoke["command"][:2] == ["python", "-c"]
    variables = {e["name"]: e.get("value", "") for e in smoke["env"]}
    assert variables["MCP_HEALTH_URL"].endswith("/healthz")
    assert variables["MCP_READY_URL"].endswith("/readyz")
    assert variables["MCP_URL"].endswith("/mcp")
    assert variables["UI_HEALTH_URL"].endswith("/_stcore/health")
    script = smoke["command"][2]
    for needle in ('"initialize"', "status != 401", "WWW-Authenticate", "application/json, text/event-stream"):
        assert needle in script, needle
    assert "Authorization" not in script, "the helm test pod holds no credential"


def test_only_hooks_are_helm_hooks(manifests: list[Manifest]) -> None:
    hooks = {f"{m['kind']}/{labels(m)['app.kubernetes.io/component']}" for m in manifests if is_hook(m)}
    assert hooks <= {"Pod/test", "Job/migrations"}


# --- NOTES.txt --------------------------------------------------------------------------------


def test_notes_tell_a_user_how_to_open_the_app_with_the_real_names() -> None:
    text = notes({})
    assert "kubectl --namespace todo port-forward service/demo-todo-chatbot-ui 8501:8501" in text
    assert "helm test demo --namespace todo" in text
    minikube = notes(SCENARIOS["minikube"])
    assert "minikube service demo-todo-chatbot-ui --namespace todo" in minikube


def test_notes_tell_a_user_how_to_set_the_model_key() -> None:
    text = notes({})
    assert "offline assistant" in text
    assert "--set openai.apiKey=" in text
    assert "kubectl --namespace todo create secret generic demo-openai --from-literal=openai-api-key=" in text
    assert "--set openai.existingSecret=demo-openai" in text
    assert "--set openai.baseUrl=http://host.minikube.internal:11434/v1" in text


def test_notes_point_at_the_ingress_when_there_is_one() -> None:
    text = notes(SCENARIOS["external-db-ingress-autoscaling-monitoring"])
    assert "https://todo.example.com/" in text


INSPECTOR = (
    "npx @modelcontextprotocol/inspector --cli {url} --transport http"
    ' --header "Authorization: Bearer todo_pat_..." --method tools/list'
)


def test_notes_tell_a_user_how_to_make_a_personal_token_and_connect_a_client_over_port_forward() -> None:
    text = notes({})
    assert "sidebar -> API access" in text and "todo_pat_" in text
    assert "kubectl --namespace todo port-forward service/demo-todo-chatbot-mcp 8000:8000" in text
    assert INSPECTOR.format(url="http://localhost:8000/mcp") in text
    assert 'TodoClient.open("http://localhost:8000/mcp", token="todo_pat_...")' in text
    assert "from app.client import TodoClient" in text


def test_notes_connect_clients_through_the_mcp_ingress_when_there_is_one() -> None:
    text = notes(SCENARIOS["mcp-ingress-for-personal-tokens"])
    assert "port-forward service/demo-todo-chatbot-mcp" not in text
    assert INSPECTOR.format(url="https://mcp.example.com/mcp") in text
    assert 'TodoClient.open("https://mcp.example.com/mcp", token="todo_pat_...")' in text
    plain = notes({"mcp": {"ingress": {"enabled": True, "hostname": "mcp.example.com"}}})
    assert INSPECTOR.format(url="http://mcp.example.com/mcp") in plain
    assert "set mcp.ingress.tls.enabled=true" in plain


def test_notes_no_longer_hand_out_the_service_token(scenario: str) -> None:
    text = notes(SCENARIOS[scenario])
    assert "MCP_AUTH_TOKEN" not in text
    assert "get secret" not in text and "base64 -d" not in text
    assert "do not hand it out" in text


def test_the_page_shows_the_same_client_url_as_the_notes(manifests: list[Manifest], scenario: str) -> None:
    public_url = find(manifests, "ConfigMap", "ui")["data"]["MCP_PUBLIC_URL"]
    assert f'TodoClient.open("{public_url}"' in notes(SCENARIOS[scenario])


def test_the_mcp_ingress_is_off_by_default(default_manifests: list[Manifest]) -> None:
    assert [i for i in of_kind(default_manifests, "Ingress") if labels(i)["app.kubernetes.io/component"] == "mcp"] == []


def test_the_mcp_ingress_routes_only_the_mcp_endpoint_to_the_mcp_service(
    renders: dict[str, list[Manifest]],
) -> None:
    manifests = renders["mcp-ingress-for-personal-tokens"]
    ingress = find(manifests, "Ingress", "mcp")
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "mcp.example.com"
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/mcp", "Exact")
    assert path["backend"]["service"] == {
        "name": find(manifests, "Service", "mcp")["metadata"]["name"],
        "port": {"name": "http"},
    }
    assert ingress["spec"]["tls"] == [{"hosts": ["mcp.example.com"], "secretName": "mcp.example.com-tls"}]
    # The server takes request bodies up to 16 MiB; ingress-nginx's own default is 1 MiB.
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == "16m"
    assert of_kind(manifests, "Ingress") == [ingress], "the UI Ingress stays as configured (off here)"
