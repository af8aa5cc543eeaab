"""values.yaml documents every value, values.schema.json closes every object it defines, and no real
secret ships in a values file."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from tests.helm.support import CHART_DIR, SCENARIOS, load_values_file, merge

PARAM = re.compile(r"^\s*## @param (\S+) \S")
SECRET_NAME = re.compile(r"(token|password|apikey|secret)$", re.IGNORECASE)


def leaf_paths(values: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths of the values a user sets: scalars, lists and empty maps."""
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from leaf_paths(value, f"{path}.")
        else:
            yield path


def all_paths(values: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in values.items():
        path = f"{prefix}{key}"
        yield path
        if isinstance(value, Mapping):
            yield from all_paths(value, f"{path}.")


def documented_params() -> list[str]:
    lines = (CHART_DIR / "values.yaml").read_text().splitlines()
    return [match.group(1) for line in lines if (match := PARAM.match(line))]


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CHART_DIR / "values.schema.json").read_text())
    return loaded


def test_every_value_is_documented_by_a_param_comment() -> None:
    documented = set(documented_params())
    undocumented = [
        path
        for path in leaf_paths(load_values_file("values.yaml"))
        if not any(path == param or path.startswith(f"{param}.") for param in documented)
    ]
    assert undocumented == []


def test_every_param_comment_names_a_real_value_once() -> None:
    params = documented_params()
    assert len(params) == len(set(params)), "a value is documented twice"
    existing = set(all_paths(load_values_file("values.yaml")))
    assert [param for param in params if param not in existing] == []


def schema_objects(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if "properties" in node:
            yield where, node
        for key, value in node.items():
            yield from schema_objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from schema_objects(item, f"{where}/{index}")


def test_schema_is_draft_07_and_closes_every_object_it_defines() -> None:
    loaded = schema()
    assert loaded["$schema"] == "http://json-schema.org/draft-07/schema#"
    objects = list(schema_objects(loaded))
    assert len(objects) > 20
    assert [where for where, node in objects if node.get("additionalProperties") is not False] == []


def resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = root["definitions"][node["$ref"].removeprefix("#/definitions/")]
    return node


def schema_paths(node: dict[str, Any], root: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, child in node.get("properties", {}).items():
        if key == "global":
            continue  # Helm's own key for parent charts
        resolved = resolve(child, root)
        yield f"{prefix}{key}"
        yield from schema_paths(resolved, root, f"{prefix}{key}.")


def defined_value_paths(values: Mapping[str, Any], node: dict[str, Any], root: dict[str, Any]) -> Iterator[str]:
    """Paths of values.yaml down to where the schema stops defining (open k8s objects and maps)."""
    for key, value in values.items():
        yield key
        child = resolve(node.get("properties", {}).get(key, {}), root)
        if isinstance(value, Mapping) and "properties" in child:
            yield from (f"{key}.{sub}" for sub in defined_value_paths(value, child, root))


def test_schema_and_values_yaml_describe_the_same_keys() -> None:
    root = schema()
    values = load_values_file("values.yaml")
    assert sorted(schema_paths(root, root)) == sorted(defined_value_paths(values, root, root))


def test_secrets_in_values_files_are_empty() -> None:
    for name in ("values.yaml", "values-minikube.yaml"):
        values = load_values_file(name)
        for path in leaf_paths(values):
            last = path.rsplit(".", 1)[-1]
            if not SECRET_NAME.search(last):
                continue
            value = _get(values, path)
            if not isinstance(value, bool):  # a switch (forwardAccessToken) holds no secret
                assert value == "", f"{name}: {path} must stay empty (generated or existingSecret)"


def _get(values: Mapping[str, Any], path: str) -> Any:
    node: Any = values
    for key in path.split("."):
        node = node[key]
    return node


def test_secret_values_default_to_empty_so_the_chart_generates_them() -> None:
    values = load_values_file("values.yaml")
    assert values["mcp"]["auth"]["token"] == ""
    assert values["postgresql"]["auth"]["password"] == ""
    assert values["openai"]["apiKey"] == ""
    assert values["llm"]["auth"]["apiKey"] == ""


def test_the_oidc_secrets_have_no_value_at_all_only_a_secret_and_its_keys() -> None:
    # The client secret comes from the provider and the cookie secret must be the same on every
    # replica: both are read from a Secret of the user's, and there is no value to put them in.
    oidc = load_values_file("values.yaml")["ui"]["auth"]["oidc"]
    secret_like = sorted(key for key in oidc if re.search("secret", key, re.IGNORECASE))
    assert secret_like == ["clientSecretKey", "cookieSecretKey", "existingSecret"]
    assert oidc["existingSecret"] == ""


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("ui.replicaCount", 1),
        ("mcp.replicaCount", 1),
        ("ui.image.repository", "todo-chatbot-ui"),
        ("ui.image.tag", "dev"),
        ("ui.image.pullPolicy", "Never"),
        ("mcp.image.repository", "todo-chatbot-mcp"),
        ("mcp.image.tag", "dev"),
        ("mcp.image.pullPolicy", "Never"),
        ("ui.service.type", "NodePort"),
        ("postgresql.persistence.size", "1Gi"),
        ("llm.enabled", True),
        ("llm.model.sha256", "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
        ("llm.model.existingClaim", ""),
        ("llm.auth.apiKey", ""),
    ],
)
def test_minikube_values_run_one_small_local_copy(path: str, expected: Any) -> None:
    effective = merge(load_values_file("values.yaml"), SCENARIOS["minikube"])
    assert _get(effective, path) == expected
