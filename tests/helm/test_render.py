"""The chart renders to well-formed objects for every supported values set, and refuses bad values."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import helm_python
import pytest
import yaml

from tests.helm.support import (
    CHART_DIR,
    ChartYamlError,
    Manifest,
    Values,
    of_kind,
    parse_manifests,
    render,
    render_raw,
)

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_every_scenario_renders_objects_with_kind_and_name(manifests: list[Manifest]) -> None:
    assert manifests
    for manifest in manifests:
        assert manifest.get("apiVersion") and manifest.get("kind"), manifest
        assert manifest["metadata"]["name"], manifest


def test_broken_yaml_in_a_template_is_caught() -> None:
    # helm renders broken YAML without complaint; parse_manifests is what catches it.
    with pytest.raises(ChartYamlError, match=r"broken\.yaml"):
        parse_manifests({"todo-chatbot/templates/broken.yaml": "kind: Service\n  metadata: [unclosed\n"})


def test_objects_are_unique_per_kind_and_name(manifests: list[Manifest]) -> None:
    counts = Counter((m["kind"], m["metadata"]["name"]) for m in manifests)
    assert [key for key, count in counts.items() if count > 1] == []


def test_every_namespaced_object_names_the_release_namespace(manifests: list[Manifest]) -> None:
    for manifest in manifests:
        if manifest["kind"] == "ServiceMonitor":
            continue  # may live in the monitoring namespace on purpose
        assert manifest["metadata"].get("namespace") == "todo", manifest["metadata"]


def test_a_53_character_release_name_keeps_every_name_within_kubernetes_limits() -> None:
    release = "a-release-name-that-is-as-long-as-helm-allows-53-char"
    assert len(release) == 53
    manifests = render({}, release=release)
    for manifest in manifests:
        name = manifest["metadata"]["name"]
        assert len(name) <= 63 and DNS_LABEL.match(name), name
    for statefulset in of_kind(manifests, "StatefulSet"):
        # Its pods get a controller-revision-hash label <name>-<10 chars>, at most 63.
        assert len(statefulset["metadata"]["name"]) <= 52


def test_default_install_creates_both_tiers_and_the_bundled_database(default_manifests: list[Manifest]) -> None:
    kinds = Counter(m["kind"] for m in default_manifests)
    assert kinds["Deployment"] == 2
    assert kinds["StatefulSet"] == 1
    assert kinds["Service"] == 4  # ui, mcp, postgresql, postgresql headless
    assert kinds["NetworkPolicy"] == 3
    assert kinds["Ingress"] == 0 and kinds["HorizontalPodAutoscaler"] == 0 and kinds["ServiceMonitor"] == 0


def test_chart_metadata_is_a_v2_chart_named_todo_chatbot() -> None:
    metadata = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert metadata["apiVersion"] == "v2"
    assert metadata["name"] == "todo-chatbot"


INVALID_VALUES: dict[str, tuple[Values, str]] = {
    "wrong type for a count": ({"ui": {"replicaCount": "two"}}, "/ui/replicaCount"),
    "wrong type for a switch": ({"ingress": {"enabled": "yes"}}, "/ingress/enabled"),
    "wrong type for a quantity": ({"mcp": {"resources": {"limits": {"cpu": True}}}}, "/mcp/resources/limits/cpu"),
    "wrong type for a port": ({"mcp": {"service": {"port": "8000"}}}, "/mcp/service/port"),
    "value outside its enum": ({"migrations": {"mode": "hook"}}, "/migrations/mode"),
    "unknown top-level key": ({"replicas": 3}, "'replicas' not allowed"),
    "unknown key in an image": ({"ui": {"image": {"name": "x"}}}, "'name' not allowed"),
    "misspelt secret key": ({"mcp": {"auth": {"tokn": "x"}}}, "'tokn' not allowed"),
    "unknown key three levels down": ({"postgresql": {"persistence": {"sizee": "1Gi"}}}, "'sizee' not allowed"),
    "unknown key in the monitoring block": (
        {"mcp": {"metrics": {"serviceMonitor": {"enable": True}}}},
        "'enable' not allowed",
    ),
    "database URL of another engine": ({"database": {"external": {"url": "mysql://x"}}}, "/database/external/url"),
    "allowed origins as one string": ({"mcp": {"allowedOrigins": "http://localhost:*"}}, "/mcp/allowedOrigins"),
    "an allowed origin with a path": (
        {"mcp": {"allowedOrigins": ["https://app.example.com/page"]}},
        "/mcp/allowedOrigins/0",
    ),
    "two allowed origins in one item": (
        {"mcp": {"allowedOrigins": ["https://a.example.com,https://b.example.com"]}},
        "/mcp/allowedOrigins/0",
    ),
    "an allowed origin without a scheme": ({"mcp": {"allowedOrigins": ["localhost:*"]}}, "/mcp/allowedOrigins/0"),
    "wrong type for the hash key": (
        {"mcp": {"auth": {"existingSecretHashKey": 256}}},
        "/mcp/auth/existingSecretHashKey",
    ),
    "wrong type for the MCP ingress switch": ({"mcp": {"ingress": {"enabled": "yes"}}}, "/mcp/ingress/enabled"),
    "MCP ingress host with a scheme": (
        {"mcp": {"ingress": {"hostname": "https://mcp.example.com"}}},
        "/mcp/ingress/hostname",
    ),
    "wrong type for MCP ingress TLS": ({"mcp": {"ingress": {"tls": {"enabled": 1}}}}, "/mcp/ingress/tls/enabled"),
    "MCP ingress path type outside its enum": ({"mcp": {"ingress": {"pathType": "Regex"}}}, "/mcp/ingress/pathType"),
    "unknown key in the MCP ingress": ({"mcp": {"ingress": {"host": "mcp.example.com"}}}, "'host' not allowed"),
    "controller selector as a list": (
        {"networkPolicy": {"mcp": {"ingressController": {"namespaceSelector": ["ingress-nginx"]}}}},
        "/networkPolicy/mcp/ingressController/namespaceSelector",
    ),
    "unknown key next to the controller selectors": (
        {"networkPolicy": {"mcp": {"ingressController": {"namespace": "ingress-nginx"}}}},
        "'namespace' not allowed",
    ),
    "wrong type for the model server switch": ({"llm": {"enabled": "yes"}}, "/llm/enabled"),
    "model URL of another scheme": ({"llm": {"model": {"url": "ftp://models.example.com/m.gguf"}}}, "/llm/model/url"),
    "model URL without a path": ({"llm": {"model": {"url": "https://models.example.com"}}}, "/llm/model/url"),
    "model checksum that is not SHA-256 hex": ({"llm": {"model": {"sha256": "ABC123"}}}, "/llm/model/sha256"),
    "absolute model path": ({"llm": {"model": {"path": "/etc/passwd"}}}, "/llm/model/path"),
    "model path leaving the volume": ({"llm": {"model": {"path": "../other/model.gguf"}}}, "/llm/model/path"),
    "model claim that is no Kubernetes name": (
        {"llm": {"model": {"existingClaim": "Team Models"}}},
        "/llm/model/existingClaim",
    ),
    "unknown key in the model": ({"llm": {"model": {"file": "m.gguf"}}}, "'file' not allowed"),
    "two model names in one": ({"llm": {"modelName": "a,b"}}, "/llm/modelName"),
    "model server arguments as one string": ({"llm": {"args": "-t 2"}}, "/llm/args"),
    "a request timeout of zero": ({"llm": {"requestTimeout": 0}}, "/llm/requestTimeout"),
    "unknown key in the model server policy": ({"networkPolicy": {"llm": {"egress": []}}}, "'egress' not allowed"),
}


@pytest.mark.parametrize("values, offending", list(INVALID_VALUES.values()), ids=list(INVALID_VALUES))
def test_values_schema_rejects_wrong_types_and_unknown_keys(values: Values, offending: str) -> None:
    with pytest.raises(helm_python.HelmValuesError) as raised:
        render_raw(values)
    assert offending in str(raised.value)


INCONSISTENT_VALUES: dict[str, tuple[Values, str]] = {
    "no database at all": ({"postgresql": {"enabled": False}}, "needs an external database"),
    "two databases": (
        {"database": {"external": {"url": "postgresql://u:p@db:5432/todo"}}},
        "set postgresql.enabled=false",
    ),
    "TLS without a host": ({"ingress": {"enabled": True, "hostname": "", "tls": {"enabled": True}}}, "hostname"),
    "autoscaling bounds reversed": (
        {"mcp": {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}},
        "minReplicas",
    ),
    "MCP ingress without a host": (
        {"mcp": {"ingress": {"enabled": True, "hostname": ""}}},
        "mcp.ingress.enabled=true needs mcp.ingress.hostname",
    ),
    "MCP ingress on a wildcard host": (
        {"mcp": {"ingress": {"enabled": True, "hostname": "*.example.com"}}},
        "mcp.ingress.hostname must name one host",
    ),
    "token and hash under one key": (
        {"mcp": {"auth": {"existingSecret": "team-mcp", "existingSecretHashKey": "mcp-auth-token"}}},
        "name the same key",
    ),
    "model server without a model": ({"llm": {"enabled": True}}, "llm.enabled=true needs a model"),
    "model from a URL and a claim at once": (
        {"llm": {"enabled": True, "model": {"url": "https://m.example.com/m.gguf", "existingClaim": "models"}}},
        "llm.model.url and llm.model.existingClaim are both set",
    ),
    "checksum of a file that is not downloaded": (
        {"llm": {"enabled": True, "model": {"existingClaim": "models", "sha256": "a" * 64}}},
        "llm.model.sha256 checks a download",
    ),
    "model server and a hosted model's key": (
        {"llm": {"enabled": True, "model": {"existingClaim": "models"}}, "openai": {"apiKey": "sk-test"}},
        "these values point it at another model: openai.apiKey.",
    ),
    "model server and a hosted model's Secret and URL": (
        {
            "llm": {"enabled": True, "model": {"existingClaim": "models"}},
            "openai": {"existingSecret": "team-openai", "baseUrl": "https://gateway.example.com/v1"},
        },
        "openai.existingSecret, openai.baseUrl. Clear them, or set llm.enabled=false",
    ),
}


@pytest.mark.parametrize("values, message", list(INCONSISTENT_VALUES.values()), ids=list(INCONSISTENT_VALUES))
def test_inconsistent_values_fail_with_a_message_that_says_what_to_do(values: Values, message: str) -> None:
    with pytest.raises(helm_python.HelmError, match=re.escape(message)):
        render_raw(values)


def test_an_ingress_annotation_set_to_null_is_dropped() -> None:
    values: dict[str, Any] = {
        "ingress": {"enabled": True, "annotations": {"nginx.ingress.kubernetes.io/affinity": None}}
    }
    (ingress,) = of_kind(render(values), "Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert "nginx.ingress.kubernetes.io/affinity" not in annotations
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
