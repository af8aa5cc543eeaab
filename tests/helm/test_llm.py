"""The optional in-cluster model server (llm.enabled): off by default; when on, one llama-server pod
that the UI reaches by cluster DNS with a key only the two of them hold, probed, limited, locked down,
reachable from the UI alone, with the model from a claim or from a URL that its init container
downloads and checks (the script itself runs here against a local HTTP server)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.helm.support import (
    CHART_DIR,
    NAMESPACE,
    SCENARIOS,
    Manifest,
    PodTemplate,
    Values,
    component_pod,
    container,
    containers,
    find,
    labels,
    load_values_file,
    merge,
    notes,
    pod_templates,
    quantity,
    render,
    resolved_env,
    secret_data,
    secret_ref,
    selects,
)
from tests.support import serving_http

LLM_SCENARIOS = ("minikube", "llm-from-a-url-into-an-empty-dir", "llm-from-an-existing-claim")
DEFAULTS = load_values_file("values.yaml")
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


def effective(scenario: str) -> Values:
    return merge(DEFAULTS, SCENARIOS[scenario])


@pytest.fixture(params=LLM_SCENARIOS)
def llm_scenario(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def llm_manifests(llm_scenario: str, renders: dict[str, list[Manifest]]) -> list[Manifest]:
    return renders[llm_scenario]


def server(manifests: list[Manifest]) -> dict[str, Any]:
    return container(component_pod(manifests, "llm"), "llm")


def arg(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


# --- off by default -------------------------------------------------------------------------------


def test_the_default_install_runs_no_model_server(default_manifests: list[Manifest]) -> None:
    assert [m["kind"] for m in default_manifests if labels(m)["app.kubernetes.io/component"] == "llm"] == []
    config = find(default_manifests, "ConfigMap", "ui")["data"]
    assert "OPENAI_BASE_URL" not in config and config["OPENAI_MODEL"] == "gpt-4o-mini"
    assert all("llm-api-key" not in data for data in secret_data(default_manifests).values())
    assert DEFAULTS["llm"]["enabled"] is False


@pytest.mark.parametrize("scenario", sorted(set(SCENARIOS) - set(LLM_SCENARIOS)))
def test_scenarios_without_llm_render_no_model_server(scenario: str, renders: dict[str, list[Manifest]]) -> None:
    assert not [m for m in renders[scenario] if labels(m)["app.kubernetes.io/component"] == "llm"]


# --- the UI finds the server and may use it ---------------------------------------------------------


def test_the_ui_reaches_the_model_server_by_its_service_dns_name(
    llm_scenario: str, llm_manifests: list[Manifest]
) -> None:
    values = effective(llm_scenario)["llm"]
    service = find(llm_manifests, "Service", "llm")
    assert service["spec"]["type"] == "ClusterIP"
    env = resolved_env(component_pod(llm_manifests, "ui"), "ui", llm_manifests)
    url = urlsplit(env["OPENAI_BASE_URL"])
    assert (url.scheme, url.path) == ("http", "/v1")
    assert url.hostname == f"{service['metadata']['name']}.{NAMESPACE}.svc.cluster.local"
    assert url.port == service["spec"]["ports"][0]["port"] == values["service"]["port"]
    (port,) = server(llm_manifests)["ports"]
    assert port == {"name": "http", "containerPort": values["containerPort"], "protocol": "TCP"}
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    # The name the UI asks for is the name the server answers to.
    assert env["OPENAI_MODEL"] == values["modelName"] == arg(server(llm_manifests)["args"], "--alias")
    assert env["MODEL_TIMEOUT"] == str(values["requestTimeout"])


def test_the_ui_and_the_server_share_one_key_that_no_other_pod_holds(
    llm_scenario: str, llm_manifests: list[Manifest]
) -> None:
    ui = component_pod(llm_manifests, "ui")
    llm = component_pod(llm_manifests, "llm")
    location = secret_ref(llm, "llm", "LLAMA_API_KEY")
    assert location is not None and secret_ref(ui, "ui", "OPENAI_API_KEY") == location
    auth = effective(llm_scenario)["llm"]["auth"]
    if auth["existingSecret"]:
        assert location == {"name": auth["existingSecret"], "key": auth["existingSecretKey"]}
    else:
        key = secret_data(llm_manifests)[location["name"]][location["key"]]
        assert len(key) == 40 and key.isalnum(), "generated, like the other release secrets"
    holders = {
        f"{pod.name}/{c['name']}"
        for pod in pod_templates(llm_manifests)
        for c in containers(pod)
        for entry in c.get("env", [])
        if entry.get("valueFrom", {}).get("secretKeyRef") == location
    }
    assert holders == {f"{ui.name}/ui", f"{llm.name}/llm"}


def test_the_ui_settings_use_the_model_server(
    llm_scenario: str, llm_manifests: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.settings import UISettings

    env = {"OPENAI_API_KEY": "a-key-from-an-existing-secret", "MCP_AUTH_TOKEN": "a-token-from-an-existing-secret"}
    env |= resolved_env(component_pod(llm_manifests, "ui"), "ui", llm_manifests)
    for name in UISettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = UISettings()
    assert settings.model_configured, "with a key set the page asks the model, not the offline assistant"
    assert settings.openai_base_url == env["OPENAI_BASE_URL"]
    assert settings.model_timeout == effective(llm_scenario)["llm"]["requestTimeout"]


# --- the server pod ---------------------------------------------------------------------------------


def test_the_server_serves_the_model_file_on_all_interfaces_at_its_port(
    llm_scenario: str, llm_manifests: list[Manifest]
) -> None:
    values = effective(llm_scenario)["llm"]
    args = server(llm_manifests)["args"]
    assert arg(args, "--model") == f"/models/{values['model']['path']}"
    assert arg(args, "--host") == "0.0.0.0"
    assert arg(args, "--port") == str(values["containerPort"])
    assert args[-len(values["args"]) :] == values["args"]
    # Threads beyond the CPU limit would only be throttled.
    threads = int(arg(args, "-t"))
    assert threads <= quantity(server(llm_manifests)["resources"]["limits"]["cpu"])


def test_the_server_is_probed_on_health_and_given_time_to_load(llm_manifests: list[Manifest]) -> None:
    llm = server(llm_manifests)
    for probe in PROBES:
        assert llm[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    startup = llm["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300


def test_the_server_has_the_memory_the_model_needs_and_limits(renders: dict[str, list[Manifest]]) -> None:
    resources = server(renders["llm-from-an-existing-claim"])["resources"]
    assert quantity(resources["requests"]["cpu"]) == quantity("1")
    assert quantity(resources["requests"]["memory"]) == quantity("2Gi")
    assert quantity(resources["limits"]["cpu"]) == quantity("2")
    # The 1.5B Q4 model uses ~1.9 GB resident with a 4096-token context.
    assert quantity(resources["limits"]["memory"]) == quantity("3Gi") > quantity("1.9G")
    minikube = server(renders["minikube"])["resources"]
    assert quantity(minikube["requests"]["cpu"]) == quantity("500m") and quantity(minikube["limits"]["cpu"]) == 2


def test_the_server_pod_is_locked_down(llm_manifests: list[Manifest]) -> None:
    pod = component_pod(llm_manifests, "llm")
    assert pod.spec["securityContext"]["runAsNonRoot"] is True
    assert pod.spec["automountServiceAccountToken"] is False
    for c in containers(pod):
        context = c["securityContext"]
        assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert context["runAsUser"] != 0
    # One replica, replaced rather than rolled: the model volume is ReadWriteOnce.
    assert pod.owner["spec"]["replicas"] == 1 and pod.owner["spec"]["strategy"] == {"type": "Recreate"}


def model_volume(pod: PodTemplate) -> dict[str, Any]:
    (volume,) = [v for v in pod.spec["volumes"] if v["name"] == "model"]
    return volume


def mount(c: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [m for m in c["volumeMounts"] if m["name"] == name]
    return found


def test_the_server_reads_the_model_volume_read_only(llm_manifests: list[Manifest]) -> None:
    assert mount(server(llm_manifests), "model") == {"name": "model", "mountPath": "/models", "readOnly": True}


def test_a_model_on_an_existing_claim_is_used_as_it_is(renders: dict[str, list[Manifest]]) -> None:
    manifests = renders["llm-from-an-existing-claim"]
    pod = component_pod(manifests, "llm")
    assert "initContainers" not in pod.spec
    assert model_volume(pod) == {
        "name": "model",
        "persistentVolumeClaim": {"claimName": "team-models", "readOnly": True},
    }
    assert [m for m in manifests if m["kind"] == "PersistentVolumeClaim"] == []


def test_a_downloaded_model_is_kept_on_a_claim_of_the_release(renders: dict[str, list[Manifest]]) -> None:
    manifests = renders["minikube"]
    pod = component_pod(manifests, "llm")
    claim = find(manifests, "PersistentVolumeClaim", "llm")
    assert model_volume(pod)["persistentVolumeClaim"] == {"claimName": claim["metadata"]["name"]}
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert mount(container(pod, "download"), "model") == {"name": "model", "mountPath": "/models"}


def test_without_persistence_the_download_goes_to_a_bounded_empty_dir(renders: dict[str, list[Manifest]]) -> None:
    manifests = renders["llm-from-a-url-into-an-empty-dir"]
    assert model_volume(component_pod(manifests, "llm")) == {"name": "model", "emptyDir": {"sizeLimit": "2Gi"}}
    assert [m for m in manifests if m["kind"] == "PersistentVolumeClaim"] == []


def test_the_download_gets_the_url_checksum_and_target_and_the_proxy(renders: dict[str, list[Manifest]]) -> None:
    for scenario in ("minikube", "llm-from-a-url-into-an-empty-dir"):
        values = effective(scenario)["llm"]
        download = container(component_pod(renders[scenario], "llm"), "download")
        env = {e["name"]: e.get("value") for e in download["env"]}
        assert env["MODEL_URL"] == values["model"]["url"]
        assert env["MODEL_SHA256"] == values["model"]["sha256"]
        assert env["MODEL_FILE"] == f"/models/{values['model']['path']}"
        assert download["image"] == server(renders[scenario])["image"]
        for extra in values["extraEnv"]:
            assert env[extra["name"]] == extra["value"]


def test_a_chat_template_reaches_the_server_as_a_file(renders: dict[str, list[Manifest]]) -> None:
    manifests = renders["llm-from-a-url-into-an-empty-dir"]
    llm = server(manifests)
    path = arg(llm["args"], "--chat-template-file")
    directory, _, filename = path.rpartition("/")
    assert mount(llm, "chat-template") == {"name": "chat-template", "mountPath": directory, "readOnly": True}
    config_map = find(manifests, "ConfigMap", "llm")
    assert config_map["data"][filename] == SCENARIOS["llm-from-a-url-into-an-empty-dir"]["llm"]["chatTemplate"]
    assert "--chat-template-file" not in server(renders["minikube"])["args"]


def test_the_image_is_the_pinned_llama_cpp_server() -> None:
    image = DEFAULTS["llm"]["image"]
    assert (image["registry"], image["repository"]) == ("ghcr.io", "ggml-org/llama.cpp")
    assert image["tag"].startswith("server-b") and image["tag"] != "server", "a build, not the moving tag"
    rendered = server(render(SCENARIOS["llm-from-an-existing-claim"]))["image"]
    assert rendered == f"ghcr.io/ggml-org/llama.cpp:{image['tag']}"


# --- NetworkPolicy ------------------------------------------------------------------------------------


def test_only_the_ui_may_reach_the_model_server(llm_scenario: str, llm_manifests: list[Manifest]) -> None:
    policy = find(llm_manifests, "NetworkPolicy", "llm")
    llm, ui = component_pod(llm_manifests, "llm"), component_pod(llm_manifests, "ui")
    assert selects(policy["spec"]["podSelector"]["matchLabels"], llm.labels)
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    (peer,) = rule["from"]
    assert list(peer) == ["podSelector"], "pods of this namespace only"
    admitted = [p.name for p in pod_templates(llm_manifests) if selects(peer["podSelector"]["matchLabels"], p.labels)]
    assert admitted == [ui.name]
    # The UI's own policy restricts ingress only: its egress to the model server is open.
    assert find(llm_manifests, "NetworkPolicy", "ui")["spec"]["policyTypes"] == ["Ingress"]


def test_a_model_on_a_claim_gets_no_egress_at_all(renders: dict[str, list[Manifest]]) -> None:
    spec = find(renders["llm-from-an-existing-claim"], "NetworkPolicy", "llm")["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["egress"] == []


@pytest.mark.parametrize(("scenario", "port"), [("minikube", 443), ("llm-from-a-url-into-an-empty-dir", 8081)])
def test_a_download_may_reach_dns_and_the_urls_port_only(
    scenario: str, port: int, renders: dict[str, list[Manifest]]
) -> None:
    spec = find(renders[scenario], "NetworkPolicy", "llm")["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    dns = {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}
    extra = SCENARIOS[scenario].get("networkPolicy", {}).get("llm", {}).get("extraEgress", [])
    assert spec["egress"] == [dns, {"ports": [{"port": port, "protocol": "TCP"}]}, *extra]


def test_extra_peers_may_be_admitted_on_purpose() -> None:
    peer = {"podSelector": {"matchLabels": {"app": "notebook"}}}
    values = merge(SCENARIOS["llm-from-an-existing-claim"], {"networkPolicy": {"llm": {"extraFrom": [peer]}}})
    (rule,) = find(render(values), "NetworkPolicy", "llm")["spec"]["ingress"]
    assert rule["from"][1:] == [peer]


# --- NOTES --------------------------------------------------------------------------------------------


def test_notes_say_the_ui_uses_the_model_server_and_how_to_wait_for_its_download() -> None:
    text = notes(SCENARIOS["minikube"])
    assert (
        "kubectl --namespace todo wait --for=condition=Available --timeout=30m deployment/demo-todo-chatbot-llm" in text
    )
    assert "logs deployment/demo-todo-chatbot-llm -c download -f" in text
    assert "http://demo-todo-chatbot-llm.todo.svc.cluster.local:8080/v1" in text
    assert "offline assistant" not in text and "--set openai.apiKey=sk-..." in text
    assert "-c download" not in notes(SCENARIOS["llm-from-an-existing-claim"])
    assert "--set llm.enabled=true" in notes({})


# --- the download script, run ------------------------------------------------------------------------

MODEL_BYTES = b"GGUF" + bytes(range(256)) * 64


class _Files(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def file_server(root: Path) -> Iterator[tuple[str, list[str]]]:
    """Serves `root` on loopback; yields its base URL and the paths requested."""
    requested: list[str] = []

    class Handler(_Files):
        def do_GET(self) -> None:
            requested.append(self.path)
            super().do_GET()

    with serving_http(partial(Handler, directory=str(root))) as base_url:
        yield base_url, requested


def download_script() -> str:
    manifests = render(SCENARIOS["minikube"])
    command: list[str] = container(component_pod(manifests, "llm"), "download")["command"]
    assert command[:2] == ["sh", "-c"]
    return command[2]


def run_download(url: str, sha256: str, target: Path) -> subprocess.CompletedProcess[str]:
    # A clean environment: no proxy variables, as in the pod.
    env = {"PATH": os.environ["PATH"], "MODEL_URL": url, "MODEL_SHA256": sha256, "MODEL_FILE": str(target)}
    return subprocess.run(["sh", "-c", download_script()], env=env, capture_output=True, text=True, timeout=60)


needs_tools = pytest.mark.skipif(
    not (shutil.which("curl") and shutil.which("sha256sum")), reason="the download script needs curl and sha256sum"
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "model.gguf").write_bytes(MODEL_BYTES)
    with file_server(tmp_path / "site") as server_info:
        yield server_info


@needs_tools
def test_the_download_fetches_and_checks_the_model_once(tmp_path: Path, served: tuple[str, list[str]]) -> None:
    base, requested = served
    target = tmp_path / "volume" / "sub" / "model.gguf"
    digest = hashlib.sha256(MODEL_BYTES).hexdigest()
    first = run_download(f"{base}/model.gguf", digest, target)
    assert first.returncode == 0, first.stderr
    assert target.read_bytes() == MODEL_BYTES
    assert not target.with_name("model.gguf.partial").exists()
    again = run_download(f"{base}/model.gguf", digest, target)
    assert again.returncode == 0 and "on the volume already" in again.stdout
    assert requested == ["/model.gguf"], "the second start does not download again"


@needs_tools
def test_a_download_that_does_not_match_the_checksum_fails_and_leaves_nothing(
    tmp_path: Path, served: tuple[str, list[str]]
) -> None:
    base, _ = served
    target = tmp_path / "volume" / "model.gguf"
    result = run_download(f"{base}/model.gguf", "0" * 64, target)
    assert result.returncode != 0
    assert "does not match llm.model.sha256" in result.stderr
    assert list(target.parent.iterdir()) == []


@needs_tools
def test_a_file_on_the_volume_that_does_not_match_is_fetched_again(
    tmp_path: Path, served: tuple[str, list[str]]
) -> None:
    base, requested = served
    target = tmp_path / "volume" / "model.gguf"
    target.parent.mkdir()
    target.write_bytes(b"a truncated or older model")
    result = run_download(f"{base}/model.gguf", hashlib.sha256(MODEL_BYTES).hexdigest(), target)
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == MODEL_BYTES and requested == ["/model.gguf"]


@needs_tools
def test_a_missing_file_at_the_url_fails_the_init_container(tmp_path: Path, served: tuple[str, list[str]]) -> None:
    base, _ = served
    target = tmp_path / "volume" / "model.gguf"
    result = run_download(f"{base}/no-such.gguf", "", target)
    assert result.returncode != 0
    assert not target.exists()


# --- changes roll the pods that read them -------------------------------------------------------------

PINNED: Values = {
    "mcp": {"auth": {"token": "pinned-token-0123456789"}},
    "postgresql": {"auth": {"password": "pinned-pw"}},
    "llm": {"enabled": True, "model": {"existingClaim": "team-models"}, "auth": {"apiKey": "pinned-llm-key-0123"}},
}


def rolling_annotations(manifests: list[Manifest]) -> dict[tuple[str, str], str]:
    return {
        (component, key): value
        for component in ("ui", "mcp", "llm")
        for key, value in find(manifests, "Deployment", component)["spec"]["template"]["metadata"][
            "annotations"
        ].items()
        if key.startswith("checksum/")
    }


@pytest.mark.parametrize(
    ("change", "rolled"),
    [
        ({"llm": {"modelName": "another-model"}}, {("ui", "checksum/config")}),
        ({"llm": {"service": {"port": 9000}}}, {("ui", "checksum/config")}),
        ({"llm": {"chatTemplate": "{{ messages }}"}}, {("llm", "checksum/config")}),
        (
            {"llm": {"auth": {"apiKey": "rotated-llm-key-0123"}}},
            {("ui", "checksum/secret"), ("llm", "checksum/secret")},
        ),
    ],
)
def test_a_model_server_change_rolls_the_pods_that_read_it(change: Values, rolled: set[tuple[str, str]]) -> None:
    before = rolling_annotations(render(PINNED))
    after = rolling_annotations(render(merge(PINNED, change)))
    assert {key for key, value in before.items() if after[key] != value} == rolled


# --- the README's Minikube walkthrough says what the chart does -----------------------------------------


def test_the_readme_minikube_walkthrough_names_what_the_chart_renders() -> None:
    section = (CHART_DIR.parent / "README.md").read_text().split("## Minikube:", 1)[1].split("\n## ", 1)[0]
    manifests = render(SCENARIOS["minikube"], release="todo-chatbot", namespace="default")
    llm = find(manifests, "Deployment", "llm")["metadata"]["name"]
    assert f"deployment/{llm} -c download" in section and f"deployment/{llm}\n" in section
    url = resolved_env(component_pod(manifests, "ui"), "ui", manifests)["OPENAI_BASE_URL"]
    assert f"`{url}`" in section
    # The offline variant: the --set flags it shows, on top of the Minikube values.
    flags = re.search(r"helm install todo-chatbot \./helm -f helm/values-minikube\.yaml \\\n\s+(--set .*)\n", section)
    assert flags, "the offline install command"
    overrides: Values = {}
    for flag in flags.group(1).split("--set")[1:]:
        path, _, value = flag.strip().partition("=")
        node = overrides
        *parents, last = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    offline = render(merge(SCENARIOS["minikube"], overrides), release="todo-chatbot", namespace="default")
    claim = model_volume(component_pod(offline, "llm"))["persistentVolumeClaim"]["claimName"]
    assert f"kind: PersistentVolumeClaim\nmetadata: {{name: {claim}}}" in section
    assert "initContainers" not in component_pod(offline, "llm").spec
    assert find(offline, "NetworkPolicy", "llm")["spec"]["egress"] == []
