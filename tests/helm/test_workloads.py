"""Pods as docs/contract.md and the issue want them: commands, probes, resources, labels and a
hardened security posture, in every values scenario."""

from __future__ import annotations

from typing import Any

from tests.helm.support import (
    STABLE_LABELS,
    STANDARD_LABELS,
    Manifest,
    PodTemplate,
    component_pod,
    container,
    containers,
    env_value,
    labels,
    pod_templates,
    quantity,
)

APP_UID = 10001
POSTGRES_UID = 999
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


def is_postgres(pod: PodTemplate) -> bool:
    return pod.labels.get("app.kubernetes.io/component") == "postgresql"


def http_path(probe: dict[str, Any]) -> str:
    path: str = probe["httpGet"]["path"]
    return path


# --- labels ---------------------------------------------------------------------------------


def test_every_object_and_pod_carries_the_standard_labels(manifests: list[Manifest]) -> None:
    missing = {
        f"{m['kind']}/{m['metadata']['name']}": sorted(STANDARD_LABELS - labels(m).keys())
        for m in manifests
        if STANDARD_LABELS - labels(m).keys()
    }
    missing |= {
        f"pod of {pod.name}": sorted(STANDARD_LABELS - pod.labels.keys())
        for pod in pod_templates(manifests)
        if STANDARD_LABELS - pod.labels.keys()
    }
    assert missing == {}
    assert {labels(m)["app.kubernetes.io/part-of"] for m in manifests} == {"todo-chatbot"}
    assert {labels(m)["app.kubernetes.io/managed-by"] for m in manifests} == {"Helm"}


def test_workload_selectors_use_only_stable_labels_and_match_their_pods(manifests: list[Manifest]) -> None:
    for pod in pod_templates(manifests):
        if pod.owner["kind"] in ("Job", "Pod"):
            continue
        selector = pod.owner["spec"]["selector"]["matchLabels"]
        assert set(selector) == STABLE_LABELS, pod.name
        assert all(pod.labels[key] == value for key, value in selector.items()), pod.name


# --- commands and settings from the contract ------------------------------------------------------


def test_containers_start_with_the_contract_commands(default_manifests: list[Manifest]) -> None:
    ui = container(component_pod(default_manifests, "ui"), "ui")
    assert ui["command"] == [
        "python", "-m", "app",
        "--server.port", "8501", "--server.address", "0.0.0.0", "--server.headless", "true",
    ]  # fmt: skip
    assert ui["ports"] == [{"name": "http", "containerPort": 8501, "protocol": "TCP"}]
    mcp = container(component_pod(default_manifests, "mcp"), "mcp")
    assert mcp["command"] == ["python", "-m", "mcp_server"]
    assert mcp["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]


def test_mcp_listens_on_all_interfaces_and_leaves_migrations_to_the_chart(manifests: list[Manifest]) -> None:
    pod = component_pod(manifests, "mcp")
    assert env_value(pod, "mcp", "MCP_HOST", manifests) == "0.0.0.0"
    assert env_value(pod, "mcp", "MCP_PORT", manifests) == str(container(pod, "mcp")["ports"][0]["containerPort"])
    assert env_value(pod, "mcp", "MCP_MIGRATE_ON_START", manifests) == "false"
    assert env_value(pod, "mcp", "DB_POOL_SIZE", manifests) is not None
    assert env_value(pod, "mcp", "LOG_LEVEL", manifests) is not None


def test_ui_gets_every_setting_the_contract_lists(manifests: list[Manifest]) -> None:
    pod = component_pod(manifests, "ui")
    for variable in ("MCP_URL", "OPENAI_MODEL", "AUTH_MODE", "AUTH_HEADER", "DEFAULT_USER", "LOG_LEVEL"):
        assert env_value(pod, "ui", variable, manifests), variable
    secret_refs = {e["name"] for e in container(pod, "ui")["env"] if "valueFrom" in e}
    if env_value(pod, "ui", "OIDC_FORWARD_ACCESS_TOKEN", manifests) == "true":  # each user's own token instead
        assert secret_refs - {"OPENAI_API_KEY"} == {"OIDC_CLIENT_SECRET", "OIDC_COOKIE_SECRET"}
    else:
        assert "MCP_AUTH_TOKEN" in secret_refs


def test_ui_holds_no_database_credentials(manifests: list[Manifest]) -> None:
    pod = component_pod(manifests, "ui")
    variables = {e["name"] for c in containers(pod) for e in c.get("env", [])}
    assert "DATABASE_URL" not in variables
    assert env_value(pod, "ui", "DATABASE_URL", manifests) is None


# --- probes ---------------------------------------------------------------------------------


def test_long_running_containers_have_startup_liveness_and_readiness_probes(manifests: list[Manifest]) -> None:
    missing = [
        f"{pod.name}/{c['name']}: {probe}"
        for pod in pod_templates(manifests)
        if pod.long_running
        for c in containers(pod, include_init=False)
        for probe in PROBES
        if probe not in c
    ]
    assert missing == []


def test_probes_call_the_health_endpoints_of_the_contract(manifests: list[Manifest]) -> None:
    ui = container(component_pod(manifests, "ui"), "ui")
    assert [http_path(ui[probe]) for probe in PROBES] == ["/_stcore/health"] * 3
    mcp = container(component_pod(manifests, "mcp"), "mcp")
    assert http_path(mcp["startupProbe"]) == "/healthz"
    assert http_path(mcp["livenessProbe"]) == "/healthz"
    assert http_path(mcp["readinessProbe"]) == "/readyz"
    for probe_owner in (ui, mcp):
        assert {probe_owner[probe]["httpGet"]["port"] for probe in PROBES} == {"http"}


def test_postgres_probes_use_pg_isready_over_tcp(default_manifests: list[Manifest]) -> None:
    postgres = container(component_pod(default_manifests, "postgresql"), "postgresql")
    for probe in PROBES:
        command = postgres[probe]["exec"]["command"]
        assert command[0] == "pg_isready" and "127.0.0.1" in command


# --- resources ------------------------------------------------------------------------------


def test_ui_and_mcp_limits_are_those_of_the_issue(manifests: list[Manifest]) -> None:
    ui = container(component_pod(manifests, "ui"), "ui")["resources"]["limits"]
    assert (quantity(ui["cpu"]), quantity(ui["memory"])) == (quantity("500m"), quantity("512Mi"))
    mcp = container(component_pod(manifests, "mcp"), "mcp")["resources"]["limits"]
    assert (quantity(mcp["cpu"]), quantity(mcp["memory"])) == (quantity("1"), quantity("1Gi"))


def test_every_container_requests_no_more_than_its_limits(manifests: list[Manifest]) -> None:
    for pod in pod_templates(manifests):
        for c in containers(pod):
            resources = c.get("resources", {})
            where = f"{pod.name}/{c['name']}"
            for resource in ("cpu", "memory"):
                request = resources.get("requests", {}).get(resource)
                limit = resources.get("limits", {}).get(resource)
                assert request is not None and limit is not None, f"{where}: {resource} request and limit"
                assert quantity(request) <= quantity(limit), where


# --- security -------------------------------------------------------------------------------


def test_app_pods_run_as_the_image_user_with_the_runtime_seccomp_profile(manifests: list[Manifest]) -> None:
    for pod in pod_templates(manifests):
        uid = POSTGRES_UID if is_postgres(pod) else APP_UID
        context = pod.spec["securityContext"]
        assert context["runAsNonRoot"] is True, pod.name
        assert (context["runAsUser"], context["runAsGroup"], context["fsGroup"]) == (uid, uid, uid), pod.name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, pod.name


def test_every_container_is_locked_down(manifests: list[Manifest]) -> None:
    # Init containers and the helm test pod included.
    for pod in pod_templates(manifests):
        for c in containers(pod):
            where = f"{pod.name}/{c['name']}"
            context = c.get("securityContext", {})
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("privileged") is not True, where
            assert context.get("runAsNonRoot") is True, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not context.get("capabilities", {}).get("add"), where
            assert context.get("seccompProfile") == {"type": "RuntimeDefault"}, where


def test_no_pod_mounts_a_service_account_token(manifests: list[Manifest]) -> None:
    for pod in pod_templates(manifests):
        assert pod.spec["automountServiceAccountToken"] is False, pod.name
        assert pod.spec["serviceAccountName"], pod.name
    for account in [m for m in manifests if m["kind"] == "ServiceAccount"]:
        assert account["automountServiceAccountToken"] is False


def mounts(c: dict[str, Any], pod: PodTemplate) -> dict[str, dict[str, Any]]:
    """mountPath -> the volume mounted there."""
    volumes = {v["name"]: v for v in pod.spec.get("volumes", [])}
    claims = {
        t["metadata"]["name"]: {"persistentVolumeClaim": t["spec"]}
        for t in pod.owner.get("spec", {}).get("volumeClaimTemplates", [])
    }
    return {m["mountPath"]: volumes.get(m["name"]) or claims[m["name"]] for m in c.get("volumeMounts", [])}


def test_read_only_root_filesystems_get_writable_tmp_and_ui_home(manifests: list[Manifest]) -> None:
    for pod in pod_templates(manifests):
        for c in containers(pod):
            assert "emptyDir" in mounts(c, pod).get("/tmp", {}), f"{pod.name}/{c['name']} has no /tmp"
    ui_pod = component_pod(manifests, "ui")
    home = env_value(ui_pod, "ui", "HOME", manifests)
    assert home and "emptyDir" in mounts(container(ui_pod, "ui"), ui_pod)[home]


def test_postgres_keeps_its_data_on_the_volume_and_runtime_files_on_empty_dirs(
    default_manifests: list[Manifest],
) -> None:
    pod = component_pod(default_manifests, "postgresql")
    postgres = container(pod, "postgresql")
    mounted = mounts(postgres, pod)
    assert "persistentVolumeClaim" in mounted["/var/lib/postgresql/data"]
    assert "emptyDir" in mounted["/var/run/postgresql"]
    pgdata = env_value(pod, "postgresql", "PGDATA", default_manifests)
    assert pgdata and pgdata.startswith("/var/lib/postgresql/data/")
    assert postgres["image"] == "docker.io/library/postgres:16"
