"""Metrics on /metrics, and a request id carried from the UI's client into the server's JSON logs."""

import json
import logging

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.client import REQUEST_ID, USER_HEADER, McpConnection, ToolError
from mcp_server.observability import JsonFormatter
from tests.support import TOKEN, ServerThread


def metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def test_metrics_count_tool_calls_by_outcome(mcp_server: ServerThread, mcp_url: str, user_id: str) -> None:
    before = httpx2.get(f"{mcp_server.base_url}/metrics").text
    connection = McpConnection(mcp_url, TOKEN)
    try:
        connection.call_tool("add_task", {"title": "counted"}, {USER_HEADER: user_id})
        with pytest.raises(ToolError):
            connection.call_tool("add_task", {"title": ""}, {USER_HEADER: user_id})
    finally:
        connection.close()
    response = httpx2.get(f"{mcp_server.base_url}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    after = response.text
    for outcome in ("ok", "refused"):
        added = metric(after, "mcp_tool_calls_total", tool="add_task", outcome=outcome)
        assert added - metric(before, "mcp_tool_calls_total", tool="add_task", outcome=outcome) == 1
    assert metric(after, "mcp_tool_call_seconds_count", tool="add_task") >= 2
    assert 'mcp_db_pool_connections{state="size"}' in after


def test_the_uis_request_id_reaches_the_servers_json_logs_and_no_secret_does(
    mcp_url: str, user_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    connection = McpConnection(mcp_url, TOKEN)
    formatter = JsonFormatter()
    try:
        with caplog.at_level(logging.INFO):
            REQUEST_ID.set("turn-0123456789")
            with pytest.raises(ToolError):
                connection.call_tool("complete_task", {"task_id": 424242}, {USER_HEADER: user_id})
            REQUEST_ID.set(None)
    finally:
        connection.close()
    lines = [json.loads(formatter.format(record)) for record in caplog.records]
    failures = [line for line in lines if "complete_task" in line["message"]]
    assert failures and all(line["request_id"] == "turn-0123456789" for line in failures)
    assert TOKEN not in caplog.text


def test_the_server_echoes_or_makes_a_request_id(mcp_server: ServerThread) -> None:
    given = httpx2.get(f"{mcp_server.base_url}/healthz", headers={"X-Request-ID": "abc-1"})
    assert given.headers["x-request-id"] == "abc-1"
    made = httpx2.get(f"{mcp_server.base_url}/healthz")
    assert len(made.headers["x-request-id"]) == 32
