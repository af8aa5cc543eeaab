"""Fixtures for the chart checks: one offline render per values scenario, shared by the session."""

from __future__ import annotations

import pytest

from tests.helm.support import SCENARIOS, Manifest, render


@pytest.fixture(scope="session")
def renders() -> dict[str, list[Manifest]]:
    return {name: render(values) for name, values in SCENARIOS.items()}


@pytest.fixture(params=sorted(SCENARIOS), scope="session")
def scenario(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="session")
def manifests(scenario: str, renders: dict[str, list[Manifest]]) -> list[Manifest]:
    return renders[scenario]


@pytest.fixture(scope="session")
def default_manifests(renders: dict[str, list[Manifest]]) -> list[Manifest]:
    return renders["default"]
