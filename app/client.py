"""The Python client for the MCP tool server: what the page uses, and what the data team opens in a notebook.

    from app.client import TodoClient
    todo = TodoClient.open("http://localhost:8000/mcp", token="todo_pat_...")  # a personal token from the page
    todo.add_task("send Q3 report", priority="high", due_date="2026-11-27")
    pandas.DataFrame(todo.task_rows(status="all"))

`McpConnection` speaks MCP's streamable HTTP transport at protocol 2026-07-28, where every request stands alone
(its `_meta` carries the protocol version and client capabilities; there is no session to open or lose): one
tool call is one POST on a pooled keep-alive connection, sent from the calling thread. One connection per process
is shared by every thread and user. The server knows who is calling from the credential: a personal token acts
for its owner; the page's service token names the signed-in user in the X-Todo-User header, which a `TodoClient`
made with `acting_for=user` sends on each of its calls (a cheap per-user view over the shared connection). No tool
takes a user argument. A `TodoClient` made with `timezone="Europe/Paris"` sends it in X-Todo-Timezone on each call:
the server counts date phrases ("friday") and "overdue" from today there (from UTC's today without one). Tool names
and results come from the contract both tiers share (contract/).

Why not the SDK's `mcp.Client`: its session runs on an event loop, so every call from the page's threads crossed
to that loop and back, and the session added its own bookkeeping; together about 3 ms of the UI's CPU per call
(docs/performance.md). The wire is the same: tests/mcp_server drives the server with the official Python SDK's
client, and test_entrypoint.py with the TypeScript SDK's.
"""

import contextvars
import datetime as dt
import itertools
import json
import logging
import random
import threading
import time
import uuid
from typing import Any

import httpx2
from mcp.shared.inbound import (
    MCP_METHOD_HEADER,
    MCP_NAME_HEADER,
    MCP_PROTOCOL_VERSION_HEADER,
    encode_header_value,
)
from mcp.types import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    LATEST_PROTOCOL_VERSION,
    PROTOCOL_VERSION_META_KEY,
    CallToolResult,
    ListToolsResult,
    Tool,
)

from contract.schemas import (
    AccessTokenList,
    AccessTokenOut,
    AppendResult,
    ConversationList,
    ConversationOut,
    ConversationSearch,
    ConversationWithMessages,
    DeletedConversation,
    DeletedTask,
    MessageIn,
    NewAccessToken,
    Priority,
    RevokedAccessToken,
    SortKey,
    Status,
    TaskList,
    TaskOut,
)
from contract.tools import (
    ADD_TASK,
    APPEND_MESSAGES,
    COMPLETE_TASK,
    CREATE_ACCESS_TOKEN,
    CREATE_CONVERSATION,
    DELETE_CONVERSATION,
    DELETE_TASK,
    GET_CONVERSATION,
    LIST_ACCESS_TOKENS,
    LIST_CONVERSATIONS,
    LIST_TASKS,
    RENAME_CONVERSATION,
    REOPEN_TASK,
    REVOKE_ACCESS_TOKEN,
    SEARCH_CONVERSATIONS,
    TIMEZONE_HEADER,
    UPDATE_TASK,
    USER_HEADER,
)

log = logging.getLogger(__name__)

PROTOCOL_VERSION = LATEST_PROTOCOL_VERSION
CLIENT_INFO = {"name": "todo-chatbot-ui", "version": "0.1.0"}
# What every request of protocol 2026-07-28 carries in its params' `_meta`, in place of a session's handshake.
REQUEST_META = {
    PROTOCOL_VERSION_META_KEY: PROTOCOL_VERSION,
    CLIENT_INFO_META_KEY: CLIENT_INFO,
    CLIENT_CAPABILITIES_META_KEY: {},
}

# The id of what the user is doing now (one chat turn), sent as X-Request-ID on every MCP call so that the
# server's logs of one turn can be found together.
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

RETRIES = 2  # more tries for a call that is safe to repeat, after a transport failure or a 502/503/504
RETRY_STATUSES = frozenset({502, 503, 504})


class ToolError(Exception):
    """The server refused the call (bad arguments, unknown id, storage down); the message says why."""


class ServiceUnavailable(Exception):
    """The MCP server could not be reached, did not answer in time, or did not answer as an MCP server."""

    def __init__(self, detail: str = "", *, maybe_done: bool = False):
        super().__init__("The task service is not reachable right now; try again in a moment.")
        self.detail = detail
        self.maybe_done = maybe_done  # the request may have reached the server (a timeout, a cut answer)


class TokenRefused(ServiceUnavailable):
    """The server is there but refused the credential (HTTP 401: a wrong, revoked or expired token) or what the
    request claimed with it (400/403); trying again will not help. A ServiceUnavailable, so the page keeps what
    the user typed exactly as in an outage; a notebook can tell the two apart by this type."""

    def __init__(self, status: int, description: str):
        super().__init__(f"HTTP {status}: {description}")
        self.args = (f"The task service refused the credential (HTTP {status}): {description}",)
        self.status = status


class McpConnection:
    """MCP requests to one server, shared by every thread of the process.

    A call that is safe to repeat (a read-only or idempotent tool, or a write carrying an idempotency key) is
    tried again, a little later, after a transport failure or a 502/503/504 (RETRIES more times): another
    replica may answer. A timeout is not retried: a server that hangs once is likely to hang again, and the
    user is waiting.
    """

    def __init__(self, url: str, token: str, *, timeout: float = 15.0, max_connections: int = 100):
        self.url = url
        self.timeout = timeout
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            MCP_PROTOCOL_VERSION_HEADER: PROTOCOL_VERSION,
        }
        self._limits = httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._http = self._new_pool()
        self._pool_lock = threading.Lock()
        self._retired: list[tuple[float, httpx2.Client]] = []  # replaced pools, by when: see _replace_pool
        self._ids = itertools.count(1)
        self._tools: dict[str, Tool] = {}

    def _new_pool(self) -> httpx2.Client:
        return httpx2.Client(headers=self._headers, timeout=self.timeout, limits=self._limits)

    def _replace_pool(self, failed: httpx2.Client) -> None:
        """Send what follows on new connections, so that a balancer that pins connections to replicas (a
        Kubernetes Service does) picks again. An old pool is closed once no request can still be on it."""
        with self._pool_lock:
            now = time.monotonic()
            while self._retired and now - self._retired[0][0] > self.timeout + 1:
                self._retired.pop(0)[1].close()
            if self._http is failed:
                self._http = self._new_pool()
                self._retired.append((now, failed))

    # The wire

    def request(
        self, method: str, params: dict[str, Any], *, retry: bool, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """One JSON-RPC request; its result, or ToolError (the server said no) / ServiceUnavailable (TokenRefused
        when the credential was refused). `headers` go with it (the page's X-Todo-User)."""
        headers = {**(headers or {}), MCP_METHOD_HEADER: method}
        if method == "tools/call":
            headers[MCP_NAME_HEADER] = encode_header_value(params["name"])
        if (request_id := REQUEST_ID.get()) is not None:
            headers["X-Request-ID"] = request_id
        for tries_left in range(RETRIES if retry else 0, -1, -1):
            request_number = next(self._ids)
            body = {
                "jsonrpc": "2.0",
                "id": request_number,
                "method": method,
                "params": {**params, "_meta": REQUEST_META},
            }
            http = self._http
            try:
                response = http.post(self.url, content=_json_bytes(body), headers=headers)
            except httpx2.TimeoutException as exc:
                log.warning("MCP %s timed out after %.0f s; giving up", method, self.timeout)
                sent = not isinstance(exc, httpx2.ConnectTimeout | httpx2.PoolTimeout)
                raise ServiceUnavailable(f"{type(exc).__name__}: {exc}", maybe_done=sent) from exc
            except httpx2.TransportError as exc:
                failure: str = f"{type(exc).__name__}: {exc}"
                maybe_done = not isinstance(exc, httpx2.ConnectError)
            else:
                if response.status_code not in RETRY_STATUSES:
                    return _answer(response, request_number, method)
                failure, maybe_done = f"HTTP {response.status_code}", True  # a gateway cannot say how far it got
            self._replace_pool(http)
            if not tries_left:
                log.warning("MCP %s failed (%s); giving up", method, failure)
                raise ServiceUnavailable(failure, maybe_done=maybe_done)
            log.warning("MCP %s failed (%s); retrying", method, failure)
            time.sleep(random.uniform(0.05, 0.25))
        raise AssertionError("unreachable")

    # Tools

    def list_tools(self, headers: dict[str, str] | None = None) -> list[Tool]:
        tools: list[Tool] = []
        cursor: str | None = None
        while True:
            page = ListToolsResult.model_validate(
                self.request("tools/list", {"cursor": cursor} if cursor else {}, retry=True, headers=headers)
            )
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        self._tools = {tool.name: tool for tool in tools}
        return tools

    def call_tool(self, name: str, arguments: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        """Call a tool; its structured result, or ToolError / ServiceUnavailable."""
        answer = self.request(
            "tools/call",
            {"name": name, "arguments": arguments},
            retry=self._safe_to_repeat(name, arguments, headers),
            headers=headers,
        )
        result = CallToolResult.model_validate(answer)
        if result.is_error:
            raise ToolError(" ".join(getattr(block, "text", "") for block in result.content).strip())
        if result.structured_content is None:
            raise ToolError(f"{name} returned no structured result")
        return result.structured_content

    def _safe_to_repeat(self, name: str, arguments: dict[str, Any], headers: dict[str, str] | None) -> bool:
        if "idempotency_key" in arguments:
            return True
        if not self._tools:
            try:
                self.list_tools(headers)
            except (ServiceUnavailable, ToolError):
                return False
        annotations = self._tools[name].annotations if name in self._tools else None
        return bool(annotations and (annotations.read_only_hint or annotations.idempotent_hint))

    def close(self) -> None:
        with self._pool_lock:
            for _, pool in self._retired:
                pool.close()
            self._retired.clear()
        self._http.close()

    def __enter__(self) -> "McpConnection":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _json_bytes(body: dict[str, Any]) -> bytes:
    """UTF-8 JSON (an emoji is 4 bytes, not a 12-byte escape pair); escaped ASCII if a lone surrogate (as from a
    model's `\\ud800`) cannot be UTF-8: the server then judges the text, not the client."""
    try:
        return json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(body).encode()


def _answer(response: httpx2.Response, request_number: int, method: str) -> dict[str, Any]:
    """The result of a JSON-RPC answer (a JSON body, or the matching event of an event stream)."""
    if response.status_code in (400, 401, 403) and response.headers.get("content-type") == "application/json":
        refusal = _credential_refusal(response)
        if refusal is not None:
            log.error("the MCP server refused the credential (HTTP %d): %s", response.status_code, refusal)
            raise TokenRefused(response.status_code, refusal)
    try:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            message = _from_event_stream(response.text, request_number)
        else:
            message = response.json()
    except ValueError:
        message = None
    if not isinstance(message, dict) or not ("result" in message or "error" in message):
        if response.status_code == 413:
            raise ToolError("The request is too large for the task service; send less at once.")
        log.warning("MCP %s: HTTP %d without a JSON-RPC answer", method, response.status_code)
        raise ServiceUnavailable(f"HTTP {response.status_code} without a JSON-RPC answer")
    if "error" in message:
        error = message["error"] if isinstance(message["error"], dict) else {}
        raise ToolError(str(error.get("message") or f"the server refused {method}"))
    if not isinstance(message["result"], dict):
        raise ServiceUnavailable(f"{method} answered with a result that is not an object")
    return message["result"]


def _credential_refusal(response: httpx2.Response) -> str | None:
    """The server's sentence when it refused the request's credential (an OAuth-style error body), else None."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("error_description"), str) and "jsonrpc" not in body:
        return body["error_description"]
    return None


def _from_event_stream(text: str, request_number: int) -> dict[str, Any] | None:
    """The JSON-RPC response with this id among a complete event stream's `data:` events."""
    for event in text.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(line[5:].lstrip(" ") for line in event.split("\n") if line.startswith("data:"))
        if data:
            message = json.loads(data)
            if isinstance(message, dict) and message.get("id") == request_number:
                return message
    return None


class TodoClient:
    """Typed, synchronous tool calls as one caller: the token's owner, or with the page's service token, the user
    named by `acting_for`; in the IANA time zone `timezone` ("Europe/Paris"; the server's default is UTC).
    `token` sends this caller's own bearer token (a signed-in user's access token) instead of the connection's."""

    def __init__(
        self,
        connection: McpConnection,
        acting_for: str | None = None,
        timezone: str | None = None,
        *,
        token: str | None = None,
    ):
        self.connection = connection
        self.acting_for = acting_for
        self.timezone = timezone
        self.headers: dict[str, str] = {}
        if token is not None:
            self.headers["Authorization"] = f"Bearer {token}"
        if acting_for is not None:
            self.headers[USER_HEADER] = encode_header_value(acting_for)
        if timezone is not None:
            self.headers[TIMEZONE_HEADER] = timezone

    @classmethod
    def open(cls, url: str, token: str, *, timeout: float = 15.0, timezone: str | None = None) -> "TodoClient":
        """A client for your own tasks, with a personal access token (made on the page, under API access)."""
        return cls(McpConnection(url, token, timeout=timeout), timezone=timezone)

    def list_tools(self) -> list[Tool]:
        return self.connection.list_tools(self.headers)

    def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Any tool by name (contract.tools) with these arguments, exactly; its structured result."""
        return self.connection.call_tool(name, arguments, self.headers)

    # Tasks

    def add_task(
        self,
        title: str,
        *,
        description: str = "",
        priority: Priority = "medium",
        due_date: dt.date | str | None = None,
        tags: list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> TaskOut:
        arguments = given(
            title=title,
            description=description,
            priority=priority,
            due_date=_iso(due_date),
            tags=tags or [],
            idempotency_key=idempotency_key,
        )
        return TaskOut.model_validate(self.call_tool(ADD_TASK, arguments))

    def list_tasks(
        self,
        *,
        status: Status = "open",
        priority: Priority | None = None,
        tag: str | None = None,
        due_before: dt.date | str | None = None,
        overdue: bool = False,
        search: str | None = None,
        sort: SortKey = "created",
        limit: int = 50,
        offset: int = 0,
    ) -> TaskList:
        arguments = given(
            status=status,
            priority=priority,
            tag=tag,
            due_before=_iso(due_before),
            overdue=overdue or None,
            search=search,
            sort=sort,
            limit=limit,
            offset=offset,
        )
        return TaskList.model_validate(self.call_tool(LIST_TASKS, arguments))

    def task_rows(self, *, status: Status = "all", page_size: int = 200) -> list[dict[str, Any]]:
        """Every task as a flat dict (all pages), ready for `pandas.DataFrame(rows)`."""
        rows: list[dict[str, Any]] = []
        while True:
            page = self.list_tasks(status=status, limit=page_size, offset=len(rows))
            rows.extend(task.model_dump() for task in page.tasks)
            if not page.tasks or len(rows) >= page.total:
                return rows

    def complete_task(self, task_id: int) -> TaskOut:
        return TaskOut.model_validate(self.call_tool(COMPLETE_TASK, {"task_id": task_id}))

    def reopen_task(self, task_id: int) -> TaskOut:
        return TaskOut.model_validate(self.call_tool(REOPEN_TASK, {"task_id": task_id}))

    def update_task(self, task_id: int, **changes: Any) -> TaskOut:
        """Change any of title, description, priority, due_date, clear_due_date, tags."""
        if "due_date" in changes:
            changes["due_date"] = _iso(changes["due_date"])
        return TaskOut.model_validate(self.call_tool(UPDATE_TASK, given(task_id=task_id, **changes)))

    def delete_task(self, task_id: int) -> DeletedTask:
        return DeletedTask.model_validate(self.call_tool(DELETE_TASK, {"task_id": task_id}))

    # Conversations

    def create_conversation(self, title: str = "") -> ConversationOut:
        return ConversationOut.model_validate(self.call_tool(CREATE_CONVERSATION, {"title": title}))

    def list_conversations(self, *, limit: int = 20, offset: int = 0) -> ConversationList:
        result = self.call_tool(LIST_CONVERSATIONS, {"limit": limit, "offset": offset})
        return ConversationList.model_validate(result)

    def search_conversations(self, query: str, *, limit: int = 20) -> ConversationSearch:
        """The user's conversations whose title or messages hold every word (the last one as a prefix), best first;
        each snippet is plain text with the matching words between « and »."""
        result = self.call_tool(SEARCH_CONVERSATIONS, {"query": query, "limit": limit})
        return ConversationSearch.model_validate(result)

    def get_conversation(self, conversation_id: uuid.UUID, *, limit: int | None = None) -> ConversationWithMessages:
        result = self.call_tool(GET_CONVERSATION, given(conversation_id=str(conversation_id), limit=limit))
        return ConversationWithMessages.model_validate(result)

    def append_messages(
        self,
        conversation_id: uuid.UUID,
        messages: list[MessageIn],
        *,
        idempotency_key: str | None = None,
        recent: int = 0,
    ) -> AppendResult:
        """Store messages; with a key, a repeat of the call stores nothing more and answers as the first did.
        `recent` > 0 also returns the conversation's last `recent` messages, as they are after this append."""
        arguments = given(
            conversation_id=str(conversation_id),
            messages=[message.model_dump(exclude_none=True) for message in messages],
            idempotency_key=idempotency_key,
            recent=recent or None,
        )
        return AppendResult.model_validate(self.call_tool(APPEND_MESSAGES, arguments))

    def rename_conversation(self, conversation_id: uuid.UUID, title: str) -> ConversationOut:
        result = self.call_tool(RENAME_CONVERSATION, {"conversation_id": str(conversation_id), "title": title})
        return ConversationOut.model_validate(result)

    def delete_conversation(self, conversation_id: uuid.UUID) -> DeletedConversation:
        result = self.call_tool(DELETE_CONVERSATION, {"conversation_id": str(conversation_id)})
        return DeletedConversation.model_validate(result)

    # Personal access tokens (only with the page's service credential)

    def create_access_token(self, name: str, *, expires_in_days: int | None = None) -> NewAccessToken:
        result = self.call_tool(CREATE_ACCESS_TOKEN, given(name=name, expires_in_days=expires_in_days))
        return NewAccessToken.model_validate(result)

    def list_access_tokens(self) -> list[AccessTokenOut]:
        return AccessTokenList.model_validate(self.call_tool(LIST_ACCESS_TOKENS, {})).tokens

    def revoke_access_token(self, token_id: uuid.UUID) -> RevokedAccessToken:
        result = self.call_tool(REVOKE_ACCESS_TOKEN, {"token_id": str(token_id)})
        return RevokedAccessToken.model_validate(result)


def given(**arguments: Any) -> dict[str, Any]:
    """The arguments that have a value: one left as None is not sent, so the tool's default applies."""
    return {name: value for name, value in arguments.items() if value is not None}


def _iso(day: dt.date | str | None) -> str | None:
    return day.isoformat() if isinstance(day, dt.date) else day
