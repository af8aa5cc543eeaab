"""Every rendered object is valid, strictly (no unknown fields), for the oldest supported Kubernetes
and for the newest one kubernetes-validate ships."""

from __future__ import annotations

import kubernetes_validate
import pytest
from packaging.version import Version

from tests.helm.support import Manifest

OLDEST_SUPPORTED = "1.28.0"  # Chart.yaml: kubeVersion >=1.28.0-0
NEWEST_SHIPPED = kubernetes_validate.latest_version()

# Custom resources have no schema in kubernetes-validate. Only these kinds may be skipped;
# any other missing schema (a removed API version, a typo in apiVersion) fails.
KINDS_WITHOUT_SCHEMA = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def test_newest_shipped_version_is_newer_than_the_oldest_supported() -> None:
    assert Version(NEWEST_SHIPPED) > Version(OLDEST_SUPPORTED)


@pytest.mark.parametrize("kube_version", [OLDEST_SUPPORTED, NEWEST_SHIPPED])
def test_every_object_validates_strictly(manifests: list[Manifest], kube_version: str) -> None:
    failures: list[str] = []
    for manifest in manifests:
        if (manifest["apiVersion"], manifest["kind"]) in KINDS_WITHOUT_SCHEMA:
            continue
        where = f"{manifest['kind']}/{manifest['metadata']['name']}"
        try:
            kubernetes_validate.validate(manifest, kube_version, strict=True)
        except kubernetes_validate.SchemaNotFoundError as error:
            failures.append(f"{where}: {error.message}")
        except kubernetes_validate.ValidationError as error:
            failures.append(f"{where} at {'.'.join(map(str, error.path))}: {error.message}")
    assert failures == []


def test_strict_validation_rejects_an_unknown_field(default_manifests: list[Manifest]) -> None:
    (deployment, *_) = [m for m in default_manifests if m["kind"] == "Deployment"]
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, NEWEST_SHIPPED, strict=True)


def test_a_removed_api_version_is_a_failure_not_a_skip() -> None:
    old_pdb = {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "x"}, "spec": {}}
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(old_pdb, NEWEST_SHIPPED, strict=True)
