"""`helm lint` (through Helm's own Go SDK) finds nothing worse than info-level notes."""

from __future__ import annotations

import shutil
from pathlib import Path

import helm_python
import pytest

from tests.helm.support import CHART_DIR, NAMESPACE, SCENARIOS, Values

WARNING = 2  # lint severities: 0 unknown, 1 info, 2 warning, 3 error


def lint_problems(chart: Path, values: Values, kube_version: str | None = None) -> list[str]:
    report = helm_python.lint(chart, values, namespace=NAMESPACE, kube_version=kube_version)
    problems = [f"{m['path']}: {m['error']}" for m in report["messages"] if m["severity"] >= WARNING]
    return problems + list(report["errors"])


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("kube_version", [None, "v1.28.0"])
def test_chart_lints_without_warnings(scenario: str, kube_version: str | None) -> None:
    assert lint_problems(CHART_DIR, SCENARIOS[scenario], kube_version) == []


def test_lint_reports_a_broken_template(tmp_path: Path) -> None:
    # The lint check above is only worth something if lint sees template errors at all.
    broken = tmp_path / "helm"
    shutil.copytree(CHART_DIR, broken)
    service = broken / "templates" / "ui" / "service.yaml"
    service.write_text(service.read_text().replace("{{- end }}", "", 1))
    assert lint_problems(broken, {}) != []
