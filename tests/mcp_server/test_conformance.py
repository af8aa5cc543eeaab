"""The MCP conformance suite (npm @modelcontextprotocol/conformance) against the server, for both protocol
revisions the server's SDK speaks. The suite cannot send an Authorization header: it talks to a loopback proxy
(tests/mcp_server/support/proxy.py) that adds a personal access token and forwards everything else unchanged.

What may fail, and why, is in conformance-expected-failures.yaml. The suite checks that file itself (given as its
--expected-failures baseline, it exits 1 on an unexpected failure or a stale entry); this test also reads every
scenario's checks.json, so that a failure is shown with its message and a scenario that did not run is noticed.
"""

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
import yaml

from tests.mcp_server.support.node import NodeTools, run
from tests.mcp_server.support.proxy import HeaderAddingProxy
from tests.support import ServerThread, mcp_client, personal_token

EXPECTED = Path(__file__).parent / "clients" / "conformance-expected-failures.yaml"
# How each pinned suite version is run, and how many server scenarios it runs so (a scenario that silently stops
# running is noticed; a new suite version means reading its results and this file again anyway).
RUNS = {
    "2025-11-25": (["--spec-version", "2025-11-25"], 30),
    "2026-07-28": (["--requirements", "2026-07-28"], 50),  # 37 scored, 13 reported but not scored
}
NOT_PASSING = ("FAILURE", "WARNING")  # as the suite's own baseline check counts them
RANK = {"FAILURE": 3, "WARNING": 2, "SUCCESS": 1}
# What our server answers to a fixture it does not have; a pass resting on one of these tested nothing.
HOLLOW_MARKS = ("Unknown tool: test_", "Unknown prompt: 'test_", "Unknown resource: test://")


@dataclass
class Scenario:
    name: str
    checks: dict[str, dict[str, Any]]  # check id -> the check, its worst status when it ran more than once
    raw: str = field(repr=False)

    def not_passing(self) -> dict[str, dict[str, Any]]:
        return {check_id: c for check_id, c in self.checks.items() if c["status"] in NOT_PASSING}

    @property
    def hollow(self) -> bool:
        """Passes without testing this server: every check skipped, or on our answer to a missing fixture."""
        if self.not_passing():
            return False
        tested = any(check["status"] == "SUCCESS" for check in self.checks.values())
        return not tested or any(mark in self.raw for mark in HOLLOW_MARKS)


def read_results(folder: Path) -> dict[str, Scenario]:
    """checks.json of every scenario the suite ran (it writes one folder per scenario: server-NAME-TIMESTAMP)."""
    scenarios = {}
    for path in sorted(folder.glob("*/checks.json")):
        name = path.parent.name.removeprefix("server-").rsplit("-", 6)[0]  # drops the -YYYY-MM-DDTHH-MM-SS-mmmZ
        raw = path.read_text()
        worst: dict[str, dict[str, Any]] = {}
        for check in json.loads(raw):
            if check["status"] == "INFO":
                continue
            kept = worst.get(check["id"])
            if kept is None or RANK.get(check["status"], 0) >= RANK.get(kept["status"], 0):
                worst[check["id"]] = check
        assert name not in scenarios, f"two results for {name}"
        scenarios[name] = Scenario(name, worst, raw)
    return scenarios


def problems(scenarios: dict[str, Scenario], failures: dict[str, str], hollow: dict[str, str]) -> list[str]:
    """Everything the results and the expectations disagree on, as sentences."""
    found = []
    whole = {entry for entry in failures if ":" not in entry}
    per_check: dict[str, set[str]] = {}
    for entry in failures:
        if ":" in entry:
            scenario, check_id = entry.split(":", 1)
            per_check.setdefault(scenario, set()).add(check_id)
    for entry in [*whole, *per_check, *hollow]:
        if entry not in scenarios:
            found.append(f"{entry}: listed in {EXPECTED.name} but the suite did not run it")
    for name, scenario in scenarios.items():
        failing = scenario.not_passing()
        if name in whole:
            if not failing:
                found.append(f"{name}: expected to fail but passes now; delete its entry")
            continue
        allowed = per_check.get(name, set())
        for check_id, check in failing.items():
            if check_id not in allowed:
                message = check.get("errorMessage") or json.dumps(check.get("details"))[:500]
                found.append(f"{name}:{check_id} {check['status']}: {message}")
        for check_id in allowed:
            if check_id not in scenario.checks:
                found.append(f"{name}:{check_id}: listed but the scenario has no such check")
            elif check_id not in failing:
                found.append(f"{name}:{check_id}: expected to fail but passes now; delete its entry")
        if scenario.hollow != (name in hollow):
            state = "passes without testing anything here" if scenario.hollow else "is not hollow"
            found.append(f"{name}: {state}; {EXPECTED.name} says otherwise under 'hollow'")
    return found


@dataclass(frozen=True)
class Proxied:
    url: str  # the proxy's /mcp
    proxy: HeaderAddingProxy
    user: str


@pytest.fixture(scope="module")
def proxied(mcp_server: ServerThread) -> Iterator[Proxied]:
    """The session's server behind a header-adding proxy, with a personal token of a user of its own."""
    user = "conformance@example.com"

    async def make() -> str:
        async with mcp_client(f"{mcp_server.base_url}/mcp", user=user) as service:
            return await personal_token(service, name="conformance suite")

    proxy = HeaderAddingProxy(mcp_server.base_url, ("Authorization", f"Bearer {anyio.run(make)}"))
    server = ServerThread(proxy)
    server.server.config.server_header = False  # the server's own date and server headers pass through
    server.server.config.date_header = False
    server.start()
    try:
        yield Proxied(f"{server.base_url}/mcp", proxy, user)
    finally:
        server.stop()


def test_the_proxy_adds_the_token_and_passes_host_and_origin_through(proxied: Proxied) -> None:
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
    with httpx2.Client(timeout=10) as http:
        assert http.post(proxied.url, json=ping, headers=headers).json() == {"jsonrpc": "2.0", "id": 1, "result": {}}
        # The server's own DNS-rebinding defences answer, so the suite's scenario tests them and not the proxy.
        foreign_host = http.post(proxied.url, json=ping, headers={**headers, "Host": "evil.example.com"})
        assert foreign_host.status_code == 421
        foreign_origin = http.post(proxied.url, json=ping, headers={**headers, "Origin": "http://evil.example.com"})
        assert foreign_origin.status_code == 403 and "MCP_ALLOWED_ORIGINS" in foreign_origin.text
        # A token the client sends is replaced, not kept beside ours.
        replaced = http.post(proxied.url, json=ping, headers={**headers, "Authorization": "Bearer wrong"})
        assert replaced.status_code == 200


@pytest.mark.parametrize("revision", list(RUNS))
def test_the_conformance_suite_passes_what_applies(
    revision: str, node_tools: NodeTools, proxied: Proxied, tmp_path: Path
) -> None:
    expected = yaml.safe_load(EXPECTED.read_text())[revision]
    failures: dict[str, str] = expected["failures"]
    hollow: dict[str, str] = expected.get("hollow") or {}
    for entry, reason in [*failures.items(), *hollow.items()]:
        assert isinstance(reason, str) and reason.strip() and "\n" not in reason, f"{entry}: needs a one-line reason"
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(yaml.safe_dump({"server": list(failures)}))
    options, scenario_count = RUNS[revision]
    seen_before = len(proxied.proxy.seen)

    completed = run(
        [
            node_tools.conformance_node,
            node_tools.conformance[revision],
            "server",
            "--url",
            proxied.url,
            *options,
            "--expected-failures",
            baseline,
            "--output-dir",
            tmp_path / "results",
        ],
        env={**os.environ, "NO_COLOR": "1"},
        timeout=240,
    )
    output = completed.stdout + completed.stderr
    scenarios = read_results(tmp_path / "results")
    assert len(scenarios) == scenario_count, f"ran {sorted(scenarios)}\n{output[-3000:]}"
    disagreements = problems(scenarios, failures, hollow)
    assert not disagreements, f"{len(disagreements)} disagreement(s) with {EXPECTED.name}:\n" + "\n".join(disagreements)
    assert completed.returncode == 0, output[-3000:]
    assert "Baseline check passed: all failures are expected." in output

    # It reached the server through the proxy, and its DNS-rebinding probe went through with its own Host header.
    requests = proxied.proxy.seen[seen_before:]
    assert len(requests) > 2 * scenario_count
    assert not any("authorization" in headers for _, _, headers in requests), "the suite sent a credential itself"
    assert any(headers.get("host") == "evil.example.com" for _, _, headers in requests)
    for name in ("tools-list", "dns-rebinding-protection"):
        assert any(check["status"] == "SUCCESS" for check in scenarios[name].checks.values()), name
