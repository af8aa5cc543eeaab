"""The HTTP surface: bearer token (and the user the service token names), allowed Host headers, health and readiness
without auth."""

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from mcp.shared.inbound import encode_header_value

from mcp_server.server import build_app
from tests.conftest import make_settings
from tests.support import TOKEN, TOKEN_TOOLS, ServerThread, mcp_client, ok, serving

pytestmark = pytest.mark.anyio

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
SERVICE_HEADERS = {**MCP_HEADERS, "Authorization": f"Bearer {TOKEN}", "X-Todo-User": "http-tests@example.com"}


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-0123456789", "Basic dXNlcjpwYXNz", "Bearer", "Bearer todo_pat_never-made-0123456789"],
)
def test_mcp_refuses_calls_without_the_right_token(mcp_server: ServerThread, authorization: str | None) -> None:
    headers = dict(MCP_HEADERS)
    if authorization is not None:
        headers["Authorization"] = authorization
    response = httpx2.post(f"{mcp_server.base_url}/mcp", json=INITIALIZE, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == "invalid_token"
    assert "token" in body["error_description"] and "personal access token" in body["error_description"]


@pytest.mark.parametrize(
    "user",
    [
        None,
        "",
        encode_header_value("   "),  # as app/client.py sends any value (edge spaces, control or non-ASCII characters)
        "x" * 321,
        encode_header_value("a\x00b"),
        encode_header_value("two\nlines"),
        "=?base64?!!?=",  # a broken encoding
    ],
)
def test_the_service_token_must_name_a_valid_user(mcp_server: ServerThread, user: str | None) -> None:
    """The service token acts for the user in X-Todo-User: a missing or malformed one is the caller's mistake."""
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {TOKEN}"}
    if user is not None:
        headers["X-Todo-User"] = user
    response = httpx2.post(f"{mcp_server.base_url}/mcp", json=INITIALIZE, headers=headers)
    assert response.status_code == 400
    assert "www-authenticate" not in response.headers
    body = response.json()
    assert body["error"] == "invalid_request"
    assert "X-Todo-User" in body["error_description"]


def test_mcp_answers_with_the_right_token(mcp_server: ServerThread) -> None:
    response = httpx2.post(f"{mcp_server.base_url}/mcp", json=INITIALIZE, headers=SERVICE_HEADERS)
    assert response.status_code == 200
    assert response.json()["result"]["serverInfo"]["name"] == "todo"


@pytest.mark.parametrize("host", ["evil.example.com", "todo-mcp:8000", "localhost.evil.com:8000"])
def test_a_host_header_that_is_not_allowed_gets_421(mcp_server: ServerThread, host: str) -> None:
    headers = {**SERVICE_HEADERS, "Host": host}
    response = httpx2.post(f"{mcp_server.base_url}/mcp", json=INITIALIZE, headers=headers)
    assert response.status_code == 421


async def test_allowed_hosts_come_from_settings(database_url: str) -> None:
    """Behind a Kubernetes Service the Host header is the Service's name."""
    settings = make_settings(database_url, mcp_allowed_hosts="todo-mcp:*,todo-mcp.demo.svc.cluster.local:*")
    with serving(build_app(settings)) as server:
        headers = SERVICE_HEADERS
        url = f"{server.base_url}/mcp"
        for host, status in [
            ("todo-mcp:8000", 200),
            ("todo-mcp", 200),
            ("todo-mcp.demo.svc.cluster.local:8000", 200),
            ("localhost:8000", 421),
        ]:
            assert httpx2.post(url, json=INITIALIZE, headers={**headers, "Host": host}).status_code == status, host


def test_health_and_readiness_need_no_token(mcp_server: ServerThread) -> None:
    health = httpx2.get(f"{mcp_server.base_url}/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = httpx2.get(f"{mcp_server.base_url}/readyz")
    assert (ready.status_code, ready.json()["ready"]) == (200, True)


async def test_every_tool_declares_schemas_annotations_and_no_user_id(mcp_url: str, user_id: str) -> None:
    async with mcp_client(mcp_url, user=user_id) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {
        "add_task", "list_tasks", "complete_task", "reopen_task", "update_task", "delete_task",
        "create_conversation", "list_conversations", "search_conversations", "get_conversation", "append_messages",
        "rename_conversation", "delete_conversation",
        *TOKEN_TOOLS,
    }  # fmt: skip
    for tool in tools.values():
        assert "user_id" not in tool.input_schema.get("properties", {}), f"{tool.name}: the credential says who"
        assert tool.output_schema is not None, tool.name
        assert tool.description, tool.name
        assert tool.annotations is not None and tool.annotations.read_only_hint is not None, tool.name
        assert tool.input_schema["additionalProperties"] is False, f"{tool.name} refuses unknown arguments: say so"
    assert tools["list_tasks"].annotations.read_only_hint is True
    assert tools["delete_task"].annotations.destructive_hint is True
    assert tools["complete_task"].annotations.idempotent_hint is True
    assert tools["rename_conversation"].annotations.idempotent_hint is True
    assert tools["rename_conversation"].annotations.destructive_hint is False
    assert tools["search_conversations"].annotations.read_only_hint is True
    assert set(tools["add_task"].output_schema["properties"]) >= {
        "id", "title", "description", "priority", "due_date", "tags", "completed", "created_at", "updated_at",
        "completed_at",
    }  # fmt: skip


def integer_schemas(schema: Any) -> Iterator[dict[str, Any]]:
    if isinstance(schema, dict):
        if schema.get("type") == "integer":
            yield schema
        for value in schema.values():
            yield from integer_schemas(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from integer_schemas(item)


async def test_every_integer_argument_publishes_its_bounds_in_json_schema_terms(mcp_url: str, user_id: str) -> None:
    """pydantic writes bounds it cannot attach to the integer schema as "ge"/"le", which JSON Schema does not know:
    a client or a model would see an unbounded integer."""
    async with mcp_client(mcp_url, user=user_id) as client:
        tools = (await client.list_tools()).tools
    checked = 0
    for tool in tools:
        for schema in integer_schemas(tool.input_schema):
            assert {"ge", "le", "gt", "lt"}.isdisjoint(schema), f"{tool.name}: {schema}"
            assert "minimum" in schema and "maximum" in schema, f"{tool.name}: {schema}"
            checked += 1
    # task_id x 4, limit and offset x 2, search_conversations' limit, get_conversation's limit, append_messages'
    # recent, create_access_token's expires_in_days
    assert checked == 12


async def test_tool_results_are_structured_and_text(mcp_url: str, user_id: str) -> None:
    async with mcp_client(mcp_url, user=user_id) as client:
        result = await client.call_tool("add_task", {"title": "structured"})
    assert ok(result)["title"] == "structured"
    assert '"title":"structured"' in result.content[0].text.replace(" ", "")
