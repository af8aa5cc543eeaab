"""Render the Helm chart offline and walk the rendered objects; shared by the tests in tests/helm."""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import helm_python
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "helm"
RELEASE = "demo"
NAMESPACE = "todo"

Manifest = dict[str, Any]
Values = dict[str, Any]

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")
LONG_RUNNING_KINDS = ("Deployment", "StatefulSet")
STABLE_LABELS = frozenset({"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"})
STANDARD_LABELS = STABLE_LABELS | {
    "app.kubernetes.io/version",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
}


def load_values_file(name: str) -> Values:
    loaded: Values = yaml.safe_load((CHART_DIR / name).read_text()) or {}
    return loaded


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> Values:
    """Deep-merge two values trees the way Helm layers -f files and --set."""
    merged: Values = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# Values sets every test renders. Each one switches on a different part of the chart.
SCENARIOS: dict[str, Values] = {
    "default": {},
    "minikube": load_values_file("values-minikube.yaml"),
    "external-db-ingress-autoscaling-monitoring": {
        "postgresql": {"enabled": False},
        "database": {"external": {"url": "postgresql://todo:s3cret@db.example.com:5432/todo"}},
        "ingress": {"enabled": True, "hostname": "todo.example.com", "tls": {"enabled": True}},
        "ui": {"autoscaling": {"enabled": True, "targetMemoryUtilizationPercentage": 80}},
        "mcp": {
            "autoscaling": {"enabled": True},
            "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
            "extraAllowedHosts": ["mcp.example.com:*"],
        },
        "openai": {"existingSecret": "team-openai", "baseUrl": "https://gateway.example.com/v1"},
        "networkPolicy": {
            "metrics": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        },
    },
    "bundled-db-migration-job": {
        "migrations": {"mode": "job"},
        "mcp": {"service": {"port": 9000}},
        "openai": {"apiKey": "sk-test-not-a-real-key"},
        "ui": {"service": {"type": "LoadBalancer"}, "podAntiAffinityPreset": "hard"},
        "postgresql": {"persistence": {"enabled": False}},
    },
    "every-secret-external": {
        "postgresql": {"enabled": False},
        "database": {"external": {"existingSecret": "team-db", "existingSecretKey": "url"}},
        "mcp": {
            "auth": {"existingSecret": "team-mcp", "existingSecretKey": "token", "existingSecretHashKey": "digest"}
        },
        "openai": {"existingSecret": "team-openai"},
    },
    # The in-cluster model server (the minikube values download it into a volume): downloaded over
    # plain HTTP on its own port into an emptyDir, with a chat template and a proxy for the download.
    "llm-from-a-url-into-an-empty-dir": {
        "llm": {
            "enabled": True,
            "modelName": "tiny-chat",
            "model": {"url": "http://models.example.com:8081/gguf/tiny-chat.gguf", "path": "tiny/chat.gguf"},
            "persistence": {"enabled": False, "size": "2Gi"},
            "chatTemplate": "{% for message in messages %}{{ message.content }}{% endfor %}",
            "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy.example.com:3128"}],
            "args": ["-t", "2", "-c", "2048", "--jinja", "--no-webui"],
        },
        "networkPolicy": {
            "llm": {
                "extraEgress": [
                    {"to": [{"ipBlock": {"cidr": "10.0.0.10/32"}}], "ports": [{"port": 3128, "protocol": "TCP"}]}
                ]
            }
        },
    },
    # The model already on a claim of the user's, and the key in a Secret of theirs.
    "llm-from-an-existing-claim": {
        "llm": {
            "enabled": True,
            "model": {"existingClaim": "team-models", "path": "qwen/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"},
            "auth": {"existingSecret": "team-llm", "existingSecretKey": "key"},
            "service": {"port": 9090},
            "containerPort": 9091,
        },
    },
    # Single sign-on on both tiers: the page signs people in with the provider and calls MCP with
    # their own access tokens; both Ingresses over TLS; the secrets in a Secret of the user's.
    "oidc-single-sign-on": {
        "ui": {
            "auth": {
                "mode": "oidc",
                "oidc": {
                    "issuer": "https://login.example.com/realms/todo",
                    "clientId": "todo-chatbot",
                    "existingSecret": "todo-oidc",
                    "authorizeParams": {"resource": "https://mcp.example.com/mcp"},
                },
            }
        },
        "ingress": {"enabled": True, "hostname": "todo.example.com", "tls": {"enabled": True}},
        "mcp": {
            "oidc": {"issuer": "https://login.example.com/realms/todo", "audience": "https://mcp.example.com/mcp"},
            "ingress": {"enabled": True, "hostname": "mcp.example.com", "tls": {"enabled": True}},
        },
    },
    "mcp-ingress-for-personal-tokens": {
        "mcp": {
            "ingress": {"enabled": True, "hostname": "mcp.example.com", "tls": {"enabled": True}},
            "allowedOrigins": ["https://inspector.example.com", "http://localhost:*"],
        },
        "networkPolicy": {
            "mcp": {
                "ingressController": {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}},
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}},
                }
            }
        },
    },
}

SERVICE_TOKEN_KEY = "mcp-auth-token"  # keys of the release Secret
SERVICE_TOKEN_HASH_KEY = "mcp-service-token-sha256"


class ChartYamlError(AssertionError):
    """A template rendered text that is not valid YAML."""


def render_raw(values: Values | None = None, *, release: str = RELEASE, namespace: str = NAMESPACE) -> dict[str, str]:
    """Template path -> rendered text. Raises helm_python.HelmError on template or schema errors."""
    with helm_python.Chart.load(CHART_DIR) as chart:
        return chart.render(values or {}, name=release, namespace=namespace)


def parse_manifests(rendered: Mapping[str, str]) -> list[Manifest]:
    """Every Kubernetes object in a render; NOTES.txt is text, not YAML."""
    manifests: list[Manifest] = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        try:
            documents = list(yaml.safe_load_all(text))
        except yaml.YAMLError as error:
            raise ChartYamlError(f"{template} rendered invalid YAML: {error}\n{text}") from error
        for document in documents:
            if document is None:
                continue
            if not isinstance(document, dict):
                raise ChartYamlError(f"{template} rendered a {type(document).__name__}, not an object")
            manifests.append(document)
    return manifests


def render(values: Values | None = None, *, release: str = RELEASE, namespace: str = NAMESPACE) -> list[Manifest]:
    return parse_manifests(render_raw(values, release=release, namespace=namespace))


def notes(values: Values | None = None, *, release: str = RELEASE, namespace: str = NAMESPACE) -> str:
    rendered = render_raw(values, release=release, namespace=namespace)
    return next(text for template, text in rendered.items() if template.endswith("NOTES.txt"))


# --- walking the objects ---------------------------------------------------------------------


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def find(manifests: list[Manifest], kind: str, component: str) -> Manifest:
    matches = [m for m in of_kind(manifests, kind) if labels(m).get("app.kubernetes.io/component") == component]
    assert len(matches) == 1, f"expected one {kind} for component {component!r}, found {len(matches)}"
    return matches[0]


def labels(manifest: Manifest) -> dict[str, str]:
    found: dict[str, str] = manifest.get("metadata", {}).get("labels") or {}
    return found


def is_hook(manifest: Manifest) -> bool:
    return "helm.sh/hook" in (manifest["metadata"].get("annotations") or {})


@dataclass(frozen=True)
class PodTemplate:
    """A pod that the release runs: from a workload's template, or a bare (test hook) Pod."""

    owner: Manifest
    metadata: dict[str, Any]
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.owner['kind']}/{self.owner['metadata']['name']}"

    @property
    def labels(self) -> dict[str, str]:
        found: dict[str, str] = self.metadata.get("labels") or {}
        return found

    @property
    def long_running(self) -> bool:
        return self.owner["kind"] in LONG_RUNNING_KINDS


def pod_templates(manifests: list[Manifest]) -> list[PodTemplate]:
    pods = [
        PodTemplate(m, m["spec"]["template"]["metadata"], m["spec"]["template"]["spec"])
        for m in manifests
        if m["kind"] in WORKLOAD_KINDS
    ]
    pods += [PodTemplate(m, m["metadata"], m["spec"]) for m in of_kind(manifests, "Pod")]
    return pods


def containers(pod: PodTemplate, *, include_init: bool = True) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = list(pod.spec.get("containers", []))
    if include_init:
        found += pod.spec.get("initContainers", [])
    return found


def container(pod: PodTemplate, name: str) -> dict[str, Any]:
    return next(c for c in containers(pod) if c["name"] == name)


def selects(selector: Mapping[str, str], pod_labels: Mapping[str, str]) -> bool:
    """matchLabels semantics. An empty selector selects everything, which no test here wants."""
    return bool(selector) and all(pod_labels.get(key) == value for key, value in selector.items())


def secret_data(manifests: list[Manifest]) -> dict[str, dict[str, str]]:
    """Secret name -> decoded data."""
    return {
        secret["metadata"]["name"]: {
            key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()
        }
        for secret in of_kind(manifests, "Secret")
    }


def component_pod(manifests: list[Manifest], component: str) -> PodTemplate:
    (pod,) = [p for p in pod_templates(manifests) if p.labels.get("app.kubernetes.io/component") == component]
    return pod


def resolved_env(pod: PodTemplate, container_name: str, manifests: list[Manifest]) -> dict[str, str]:
    """The environment the kubelet would build for a container, from the render alone: ConfigMaps
    in envFrom, then env entries (literal values and keys of the rendered Secrets). References to
    Secrets the chart does not render (existingSecret) are left out."""
    target = container(pod, container_name)
    config_maps = {cm["metadata"]["name"]: cm.get("data") or {} for cm in of_kind(manifests, "ConfigMap")}
    secrets = secret_data(manifests)
    env: dict[str, str] = {}
    for source in target.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]])
    for entry in target.get("env", []):
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
        elif (ref := entry.get("valueFrom", {}).get("secretKeyRef")) and ref["key"] in secrets.get(ref["name"], {}):
            env[entry["name"]] = secrets[ref["name"]][ref["key"]]
    return env


def env_value(pod: PodTemplate, container_name: str, variable: str, manifests: list[Manifest]) -> str | None:
    return resolved_env(pod, container_name, manifests).get(variable)


def secret_ref(pod: PodTemplate, container_name: str, variable: str) -> dict[str, str] | None:
    """The {name, key} of the Secret a container's variable comes from, or None."""
    for entry in container(pod, container_name).get("env", []):
        if entry["name"] == variable:
            ref: dict[str, str] | None = entry.get("valueFrom", {}).get("secretKeyRef")
            return ref
    return None


def iter_strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield str(key)
            yield from iter_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from iter_strings(item)


# --- quantities --------------------------------------------------------------------------------

_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SUFFIXES = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
}


def quantity(value: str | int | float) -> Decimal:
    """A Kubernetes resource quantity as a number: '500m' -> 0.5, '1Gi' -> 1073741824."""
    match = _QUANTITY.match(str(value))
    assert match and match.group(2) in _SUFFIXES, f"unsupported quantity {value!r}"
    return Decimal(match.group(1)) * _SUFFIXES[match.group(2)]


# --- the application's own settings --------------------------------------------------------------


def mcp_settings(env: Mapping[str, str], monkeypatch: Any) -> Any:
    """mcp_server's Settings as the server would load them from exactly `env` (a pytest monkeypatch
    isolates the process environment)."""
    from mcp_server.settings import Settings

    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()  # type: ignore[call-arg]  # values come from the environment
