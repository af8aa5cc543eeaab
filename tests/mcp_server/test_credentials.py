"""Who may call /mcp and as whom: the service token names a user, a personal token is its owner; the answers to
missing, wrong, revoked and expired credentials; the token tools' lifecycle; no token in any log line."""

import logging
import uuid
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.shared.inbound import encode_header_value
from sqlalchemy import create_engine, text

from mcp_server import tokens
from mcp_server.auth import CACHE_SECONDS, Authenticator, Caller, Refusal
from mcp_server.db import Database
from mcp_server.settings import sqlalchemy_url
from tests.support import TOKEN, TOKEN_SHA256, TOKEN_TOOLS, failed, mcp_client, ok, personal_token

pytestmark = pytest.mark.anyio
LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}


async def post(url: str, body: dict[str, Any] = LIST_TOOLS, **headers: str) -> httpx2.Response:
    """One raw JSON-RPC POST (protocol 2025-06-18, no session: the server is stateless)."""
    sent = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18", **headers}
    async with httpx2.AsyncClient(timeout=10) as http:
        return await http.post(url, json=body, headers=sent)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refusal(response: httpx2.Response, status: int) -> str:
    """The sentence of a credential refusal with this status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "error_description"}
    return body["error_description"]


async def test_no_credential_gets_401_with_a_bearer_challenge(mcp_url: str) -> None:
    response = await post(mcp_url)
    assert "Authorization: Bearer" in refusal(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert response.json()["error"] == "invalid_token"


@pytest.mark.parametrize("token", ["nope", "todo_pat_" + "x" * 43, TOKEN + "x", "Basic " + TOKEN])
async def test_an_unknown_credential_gets_401(mcp_url: str, token: str) -> None:
    response = await post(mcp_url, **bearer(token))
    assert "wrong, revoked or expired" in refusal(response, 401)
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


async def test_the_service_token_must_name_a_user(mcp_url: str) -> None:
    assert "X-Todo-User" in refusal(await post(mcp_url, **bearer(TOKEN)), 400)


@pytest.mark.parametrize(
    "header", [encode_header_value("   "), "a" * 321, encode_header_value("bad\x01user"), "=?base64?!!?="]
)
async def test_a_named_user_that_is_not_a_user_id_is_refused(mcp_url: str, header: str) -> None:
    response = await post(mcp_url, **bearer(TOKEN), **{"X-Todo-User": header})
    assert "X-Todo-User header is not a user id" in refusal(response, 400)


async def test_a_user_id_with_any_characters_travels_encoded(mcp_url: str) -> None:
    user = f"Zoë Ünal {uuid.uuid4().hex[:6]}@exämple.com"
    async with mcp_client(mcp_url, user=encode_header_value(user)) as c:
        ok(await c.call_tool("add_task", {"title": "umlauts"}))
        token = await personal_token(c)
    async with mcp_client(mcp_url, token) as mine:
        titles = [t["title"] for t in ok(await mine.call_tool("list_tasks", {}))["tasks"]]
    assert titles == ["umlauts"]


async def test_a_personal_token_acts_for_its_owner_only(mcp_url: str, client: Client, user_id: str) -> None:
    ok(await client.call_tool("add_task", {"title": "mine"}))
    token = await personal_token(client)
    assert token.startswith("todo_pat_") and len(token) >= 40
    async with mcp_client(mcp_url, user="someone-else@example.com") as other:
        ok(await other.call_tool("add_task", {"title": "theirs"}))
    async with mcp_client(mcp_url, token) as mine:
        tasks = ok(await mine.call_tool("list_tasks", {}))["tasks"]
        assert [task["title"] for task in tasks] == ["mine"]
        refused = failed(await mine.call_tool("list_tasks", {"user_id": "someone-else@example.com"}))
        assert "unknown argument 'user_id'" in refused
    response = await post(mcp_url, **bearer(token), **{"X-Todo-User": "someone-else@example.com"})
    assert "acts only for its owner" in refusal(response, 403)


async def test_token_lifecycle_create_use_list_revoke(mcp_url: str, client: Client) -> None:
    created = ok(await client.call_tool("create_access_token", {"name": "notebook", "expires_in_days": 30}))
    assert set(created) == {"token_id", "name", "created_at", "expires_at", "last_used_at", "token"}
    assert created["name"] == "notebook" and created["last_used_at"] is None and created["expires_at"]
    listed = ok(await client.call_tool("list_access_tokens", {}))["tokens"]
    assert [item["token_id"] for item in listed] == [created["token_id"]]
    assert "token" not in listed[0] and created["token"] not in str(listed)
    assert listed[0]["last_used_at"] is None

    async with mcp_client(mcp_url, created["token"]) as mine:
        ok(await mine.call_tool("add_task", {"title": "from a notebook"}))
    used = ok(await client.call_tool("list_access_tokens", {}))["tokens"][0]
    assert used["last_used_at"] is not None

    ok(await client.call_tool("revoke_access_token", {"token_id": created["token_id"]}))
    assert "wrong, revoked or expired" in refusal(await post(mcp_url, **bearer(created["token"])), 401)
    assert ok(await client.call_tool("list_access_tokens", {}))["tokens"] == []
    again = failed(await client.call_tool("revoke_access_token", {"token_id": created["token_id"]}))
    assert "does not exist" in again


async def test_a_token_without_expiry_and_one_of_another_user(mcp_url: str, client: Client) -> None:
    created = ok(await client.call_tool("create_access_token", {"name": "IDE"}))
    assert created["expires_at"] is None
    async with mcp_client(mcp_url, user="intruder@example.com") as intruder:
        refused = failed(await intruder.call_tool("revoke_access_token", {"token_id": created["token_id"]}))
        assert "does not exist" in refused
        assert ok(await intruder.call_tool("list_access_tokens", {}))["tokens"] == []
    async with mcp_client(mcp_url, created["token"]) as mine:
        ok(await mine.call_tool("list_tasks", {}))


@pytest.mark.parametrize(
    ("arguments", "field"),
    [({"name": ""}, "name"), ({"name": "x" * 101}, "name"), ({"name": "a", "expires_in_days": 0}, "expires_in_days")],
)
async def test_bad_token_arguments_change_nothing(client: Client, arguments: dict[str, Any], field: str) -> None:
    assert field in failed(await client.call_tool("create_access_token", arguments))
    assert ok(await client.call_tool("list_access_tokens", {}))["tokens"] == []


async def test_an_expired_token_stops_working(mcp_url: str, database_url: str, client: Client) -> None:
    created = ok(await client.call_tool("create_access_token", {"name": "short", "expires_in_days": 1}))
    engine = create_engine(sqlalchemy_url(database_url))
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE access_tokens SET expires_at = now() - interval '1 second' WHERE id = :id"),
            {"id": created["token_id"]},
        )
    engine.dispose()
    assert "wrong, revoked or expired" in refusal(await post(mcp_url, **bearer(created["token"])), 401)
    assert ok(await client.call_tool("list_access_tokens", {}))["tokens"] == []


async def test_a_personal_token_cannot_see_or_use_the_token_tools(mcp_url: str, client: Client) -> None:
    service_tools = {tool.name for tool in (await client.list_tools()).tools}
    assert service_tools >= TOKEN_TOOLS
    token = await personal_token(client)
    async with mcp_client(mcp_url, token) as mine:
        assert not {tool.name for tool in (await mine.list_tools()).tools} & TOKEN_TOOLS
        for name, arguments in [
            ("create_access_token", {"name": "more"}),
            ("list_access_tokens", {}),
            ("revoke_access_token", {"token_id": str(uuid.uuid4())}),
        ]:
            assert "a token cannot make or revoke tokens" in failed(await mine.call_tool(name, arguments))
    assert len(ok(await client.call_tool("list_access_tokens", {}))["tokens"]) == 1


async def test_a_revoked_token_stops_on_every_replica_within_the_cache_time(database_url: str) -> None:
    """Another replica remembers a token it checked for CACHE_SECONDS (< 1 s), then asks the database again."""
    now = [1000.0]
    db = Database(sqlalchemy_url(database_url))
    replica = Authenticator(TOKEN_SHA256, db, clock=lambda: now[0])
    user = f"replica-{uuid.uuid4().hex[:8]}@example.com"
    async with db.connection() as conn:
        created = await tokens.create(conn, user, "laptop", None)
    assert await replica.resolve(f"Bearer {created.token}", None) == Caller(user, "personal", created.token_id)
    async with db.connection() as conn:
        await tokens.revoke(conn, user, created.token_id)  # on another replica
    now[0] += CACHE_SECONDS / 2
    assert isinstance(await replica.resolve(f"Bearer {created.token}", None), Caller)
    now[0] += CACHE_SECONDS / 2
    outcome = await replica.resolve(f"Bearer {created.token}", None)
    assert isinstance(outcome, Refusal) and outcome.status == 401
    assert CACHE_SECONDS < 1
    await db.close()


async def test_only_a_hash_of_a_token_is_stored(database_url: str, client: Client) -> None:
    created = ok(await client.call_tool("create_access_token", {"name": "hashed"}))
    engine = create_engine(sqlalchemy_url(database_url))
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM access_tokens WHERE id = :id"), {"id": created["token_id"]}).one()
    engine.dispose()
    assert row.token_hash == tokens.token_hash(created["token"])
    assert created["token"] not in str(tuple(row))


async def test_origins(mcp_url: str, user_id: str) -> None:
    service = {**bearer(TOKEN), "X-Todo-User": user_id}
    assert (await post(mcp_url, **service, Origin="http://localhost:6274")).status_code == 200
    assert (await post(mcp_url, **service, Origin="http://127.0.0.1:5173")).status_code == 200
    for origin in ["http://evil.example", "http://localhost.evil.example:80", "null", "https://127.0.0.1.nip.io"]:
        assert "Origin" in refusal(await post(mcp_url, **service, Origin=origin), 403)
    async with httpx2.AsyncClient() as http:
        preflight = await http.options(
            mcp_url,
            headers={
                "Origin": "http://localhost:6274",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type, mcp-protocol-version",
            },
        )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:6274"


async def test_unknown_methods_and_prompts_get_json_rpc_errors_without_a_traceback(
    mcp_url: str, user_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    service = {**bearer(TOKEN), "X-Todo-User": user_id}
    with caplog.at_level(logging.INFO):
        unknown = await post(mcp_url, {"jsonrpc": "2.0", "id": 7, "method": "tasks/frobnicate"}, **service)
        prompt = await post(
            mcp_url, {"jsonrpc": "2.0", "id": 8, "method": "prompts/get", "params": {"name": "nope"}}, **service
        )
    assert unknown.json()["error"]["code"] == -32601
    assert prompt.json()["error"]["code"] == -32602
    assert "Unknown prompt" in prompt.json()["error"]["message"]
    assert not [record for record in caplog.records if record.exc_info or record.levelno >= logging.ERROR]


async def test_no_token_value_reaches_a_log_line(
    mcp_url: str, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        created = ok(await client.call_tool("create_access_token", {"name": "logged?"}))
        async with mcp_client(mcp_url, created["token"]) as mine:
            ok(await mine.call_tool("list_tasks", {}))
        await post(mcp_url, **bearer(created["token"] + "x"))
        ok(await client.call_tool("revoke_access_token", {"token_id": created["token_id"]}))
        await post(mcp_url, **bearer(created["token"]))
    lines = [record.getMessage() for record in caplog.records]
    assert lines, "nothing was logged: the check would be empty"
    for secret in (created["token"], created["token"][len(tokens.PREFIX) :], TOKEN):
        assert not [line for line in lines if secret in line]
