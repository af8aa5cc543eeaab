"""The Python client as the data team uses it (the README's notebook example), and its reading of the wire."""

import datetime as dt
import http.server
import json
import threading
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from app.client import (
    PROTOCOL_VERSION,
    REQUEST_ID,
    RETRIES,
    McpConnection,
    ServiceUnavailable,
    TodoClient,
    TokenRefused,
    ToolError,
)
from contract.dates import today_in
from contract.schemas import ConversationOut, ConversationSearch, MessageIn
from tests.support import TOKEN


def personal_token(mcp_url: str, user_id: str) -> str:
    """A personal access token for `user_id`, made as the page makes one (the service token acting for them)."""
    with McpConnection(mcp_url, TOKEN, timeout=10) as service:
        return TodoClient(service, acting_for=user_id).create_access_token("notebook").token


def test_the_notebook_example(mcp_url: str, user_id: str) -> None:
    todo = TodoClient.open(mcp_url, token=personal_token(mcp_url, user_id))
    try:
        task = todo.add_task("send Q3 report", priority="high", due_date=dt.date(2026, 11, 27), tags=["work"])
        todo.add_task("buy milk", priority="low")
        todo.add_task("old thing", due_date="2000-01-01")
        assert todo.complete_task(task.id).completed is True
        frame = pd.DataFrame(todo.task_rows(status="all", page_size=2))  # three tasks over two pages
        assert list(frame["title"]) == ["send Q3 report", "buy milk", "old thing"]
        assert frame.groupby("priority")["completed"].mean().to_dict() == {"high": 1.0, "low": 0.0, "medium": 0.0}
        assert [t.title for t in todo.list_tasks(overdue=True, sort="due").tasks] == ["old thing"]
        updated = todo.update_task(3, due_date=dt.date(2030, 1, 1), tags=["later"])
        assert (updated.due_date, updated.tags) == (dt.date(2030, 1, 1), ["later"])
        assert todo.delete_task(2).task.title == "buy milk"
        with pytest.raises(ToolError, match="Task 2 does not exist"):
            todo.reopen_task(2)
    finally:
        todo.connection.close()


def test_conversations_renamed_and_searched_come_back_typed(mcp_url: str, user_id: str) -> None:
    with McpConnection(mcp_url, TOKEN, timeout=10) as service:
        todo = TodoClient(service, acting_for=user_id)
        conversation = todo.create_conversation()
        todo.append_messages(conversation.conversation_id, [MessageIn(role="user", content="add send Q3 report")])
        renamed = todo.rename_conversation(conversation.conversation_id, "Quarter three")
        assert isinstance(renamed, ConversationOut) and renamed.title == "Quarter three"
        found = todo.search_conversations("Q3 repo")
        assert isinstance(found, ConversationSearch) and found.total == 1
        [hit] = found.conversations
        assert (hit.conversation_id, hit.title, hit.snippet) == (
            conversation.conversation_id,
            "Quarter three",
            "add send «Q3» «report»",
        )
        assert todo.search_conversations("quarter", limit=1).conversations[0].snippet == "«Quarter» three"
        with pytest.raises(ToolError, match="send the conversation's new title"):
            todo.rename_conversation(conversation.conversation_id, " ")


def test_an_unreachable_server_is_a_clear_error() -> None:
    todo = TodoClient.open("http://127.0.0.1:9/mcp", token=TOKEN, timeout=2)
    try:
        with pytest.raises(ServiceUnavailable, match="not reachable") as failed:
            todo.list_tasks()
        assert not isinstance(failed.value, TokenRefused), "nothing listened: an outage, not a refusal"
    finally:
        todo.connection.close()


def test_a_wrong_token_is_refused_without_retrying(mcp_url: str, caplog: pytest.LogCaptureFixture) -> None:
    todo = TodoClient.open(mcp_url, token="not-the-token-0123456789")
    try:
        with pytest.raises(TokenRefused) as refused:
            todo.list_tasks()
        assert isinstance(refused.value, ServiceUnavailable), "the page keeps the text as in an outage"
        assert refused.value.status == 401 and refused.value.detail.startswith("HTTP 401: The token is wrong")
        assert "refused the credential (HTTP 401)" in str(refused.value) and "not reachable" not in str(refused.value)
        assert "refused the credential (HTTP 401)" in caplog.text and "not-the-token" not in caplog.text
    finally:
        todo.connection.close()


def test_a_wrong_personal_token_is_refused(mcp_url: str) -> None:
    todo = TodoClient.open(mcp_url, token="todo_pat_" + "0" * 40)
    try:
        with pytest.raises(TokenRefused) as refused:
            todo.list_tasks()
        assert refused.value.status == 401
    finally:
        todo.connection.close()


def test_the_service_token_must_name_the_user(mcp_url: str, user_id: str) -> None:
    with McpConnection(mcp_url, TOKEN, timeout=10) as connection:
        with pytest.raises(TokenRefused, match="X-Todo-User") as refused:
            TodoClient(connection).list_tasks()
        assert refused.value.status == 400
        assert TodoClient(connection, acting_for=user_id).list_tasks().total == 0, "the same token, naming a user"


def test_a_personal_token_acts_for_its_owner_only(mcp_url: str, user_id: str) -> None:
    with McpConnection(mcp_url, TOKEN, timeout=10) as service:
        TodoClient(service, acting_for=user_id + ".other").add_task("someone else's")
        todo = TodoClient.open(mcp_url, token=personal_token(mcp_url, user_id))
        try:
            todo.add_task("mine")
            assert [t.title for t in todo.list_tasks().tasks] == ["mine"]
            assert [t.title for t in TodoClient(service, acting_for=user_id).list_tasks().tasks] == ["mine"]
            with pytest.raises(TokenRefused) as refused:
                TodoClient(todo.connection, acting_for=user_id + ".other").list_tasks()
            assert refused.value.status == 403
        finally:
            todo.connection.close()


class CannedServer:
    """A loopback HTTP server that answers every POST with one canned response and records the requests."""

    def __init__(self, status: int, content_type: str, body: Callable[[dict[str, Any]], str]):
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        canned = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                canned.requests.append(({k.lower(): v for k, v in self.headers.items()}, request))
                answer = body(request).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/mcp"

    def __enter__(self) -> "CannedServer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def result_of(request: dict[str, Any]) -> dict[str, Any]:
    structured = {"tasks": [], "total": 0}
    return {"content": [{"type": "text", "text": json.dumps(structured)}], "structuredContent": structured}


def test_each_request_stands_alone_and_carries_the_protocol_version_and_the_request_id() -> None:
    reply = lambda request: json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result_of(request)})  # noqa: E731
    with CannedServer(200, "application/json", reply) as server, McpConnection(server.url, TOKEN) as connection:
        turn = REQUEST_ID.set("turn-1234")
        try:
            assert connection.call_tool("list_tasks", {"idempotency_key": "k"})["total"] == 0
        finally:
            REQUEST_ID.reset(turn)
        [(headers, request)] = server.requests
        assert request["method"] == "tools/call" and request["params"]["name"] == "list_tasks"
        assert request["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] == PROTOCOL_VERSION
        assert headers["mcp-protocol-version"] == PROTOCOL_VERSION
        assert (headers["mcp-method"], headers["mcp-name"]) == ("tools/call", "list_tasks")
        assert headers["x-request-id"] == "turn-1234"
        assert headers["authorization"] == f"Bearer {TOKEN}"
        assert "x-todo-user" not in headers, "a bare connection names no one"


def test_a_client_acting_for_a_user_names_them_on_every_request() -> None:
    reply = lambda request: json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result_of(request)})  # noqa: E731
    with CannedServer(200, "application/json", reply) as server, McpConnection(server.url, TOKEN) as connection:
        todo = TodoClient(connection, acting_for="me@example.com")
        assert todo.call_tool("list_tasks", {"idempotency_key": "k"})["total"] == 0
        assert todo.call_tool("list_tasks", {"idempotency_key": "k2"})["total"] == 0
        assert [headers["x-todo-user"] for headers, _ in server.requests] == ["me@example.com"] * 2
        assert all("user_id" not in request["params"].get("arguments", {}) for _, request in server.requests)


def test_a_client_in_a_time_zone_names_it_on_every_request() -> None:
    reply = lambda request: json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result_of(request)})  # noqa: E731
    with CannedServer(200, "application/json", reply) as server, McpConnection(server.url, TOKEN) as connection:
        for todo in [
            TodoClient(connection, acting_for="me@example.com", timezone="Pacific/Kiritimati"),
            TodoClient(connection, timezone="Europe/Paris"),
            TodoClient(connection, acting_for="me@example.com"),
        ]:
            todo.call_tool("list_tasks", {"idempotency_key": "k"})
        zones = [headers.get("x-todo-timezone") for headers, _ in server.requests]
        assert zones == ["Pacific/Kiritimati", "Europe/Paris", None], "no zone named: the server counts in UTC"


def test_date_phrases_count_from_the_clients_time_zone(mcp_url: str, user_id: str) -> None:
    """The notebook's `due_date="tomorrow"` is tomorrow where the notebook is: Kiritimati is a day ahead of Pago Pago."""
    with McpConnection(mcp_url, TOKEN) as connection:
        due = {}
        for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
            todo = TodoClient(connection, acting_for=user_id, timezone=zone)
            before = today_in(ZoneInfo(zone)) + dt.timedelta(days=1)
            due[zone] = todo.add_task(f"call mom ({zone})", due_date="tomorrow").due_date
            assert due[zone] in {before, today_in(ZoneInfo(zone)) + dt.timedelta(days=1)}
        assert due["Pacific/Kiritimati"] > due["Pacific/Pago_Pago"]
        with pytest.raises(TokenRefused, match="X-Todo-Timezone"):
            TodoClient(connection, acting_for=user_id, timezone="Mars/Olympus_Mons").list_tasks()


def test_an_answer_as_an_event_stream_is_read() -> None:
    def reply(request: dict[str, Any]) -> str:
        notice = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "hi"}}
        answer = {"jsonrpc": "2.0", "id": request["id"], "result": result_of(request)}
        return f"event: message\ndata: {json.dumps(notice)}\n\nevent: message\ndata: {json.dumps(answer)}\n\n"

    with CannedServer(200, "text/event-stream", reply) as server, McpConnection(server.url, TOKEN) as connection:
        assert connection.call_tool("list_tasks", {"idempotency_key": "k"}) == {"tasks": [], "total": 0}


@pytest.mark.parametrize(
    ("status", "content_type", "body", "error", "message"),
    [
        (200, "application/json", '{"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "bad params"}}',
         ToolError, "bad params"),
        (413, "text/plain", "Payload Too Large", ToolError, "too large"),
        (200, "text/html", "<html>a login page</html>", ServiceUnavailable, "not reachable"),
        (404, "text/plain", "Not Found", ServiceUnavailable, "not reachable"),
    ],
)  # fmt: skip
def test_an_answer_that_is_not_a_result_is_a_clear_error(
    status: int, content_type: str, body: str, error: type[Exception], message: str
) -> None:
    with CannedServer(status, content_type, lambda request: body) as server, McpConnection(server.url, TOKEN) as conn:
        with pytest.raises(error, match=message):
            conn.call_tool("list_tasks", {"idempotency_key": "k"})
        assert len(server.requests) == 1, "an answer is not retried, whatever it says"


def test_a_bad_gateway_is_retried_then_reported() -> None:
    with (
        CannedServer(502, "text/plain", lambda request: "Bad Gateway") as server,
        McpConnection(server.url, TOKEN) as c,
    ):
        with pytest.raises(ServiceUnavailable) as failed:
            c.call_tool("list_tasks", {"idempotency_key": "k"})
        assert failed.value.detail == "HTTP 502" and len(server.requests) == 1 + RETRIES


def test_a_lone_surrogate_reaches_the_server_and_is_refused_there(mcp_url: str, user_id: str) -> None:
    """A model's arguments can decode to a lone surrogate ("\\ud800"), which UTF-8 cannot carry."""
    todo = TodoClient(McpConnection(mcp_url, TOKEN), acting_for=user_id)
    try:
        with pytest.raises(ToolError, match="title"):
            todo.add_task("a\ud800b")
        assert todo.list_tasks(status="all").total == 0
    finally:
        todo.connection.close()
