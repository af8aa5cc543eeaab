"""The Python client for the MCP tool server: what the page uses, and what the data team opens in a notebook.

    from app.client import TodoClient
    todo = TodoClient.open("http://localhost:8000/mcp", token="...", user_id="me@example.com")
    todo.add_task("send Q3 report", priority="high", due_date="2026-11-27")
    pandas.DataFrame(todo.task_rows(status="all"))

One `McpConnection` per process holds an MCP session on a background event loop (one reused HTTP connection
pool, safe to share between threads and users); a `TodoClient` is a cheap per-user view over it that injects
`user_id` into every call. Results are the server's own pydantic models (mcp_server.schemas).
"""

import asyncio
import contextvars
import datetime as dt
import logging
import random
import threading
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, Tool

from mcp_server.schemas import (
    AppendResult,
    ConversationList,
    ConversationOut,
    ConversationWithMessages,
    DeletedConversation,
    DeletedTask,
    MessageIn,
    Priority,
    SortKey,
    Status,
    TaskList,
    TaskOut,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# The id of what the user is doing now (one chat turn), sent as X-Request-ID on every MCP call so that the
# server's logs of one turn can be found together. Context variables follow the call onto the client's loop.
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


async def _add_request_id(request: httpx2.Request) -> None:
    if (request_id := REQUEST_ID.get()) is not None:
        request.headers["X-Request-ID"] = request_id


class ToolError(Exception):
    """The server refused the call (bad arguments, unknown id, storage down); the message says why."""


class ServiceUnavailable(Exception):
    """The MCP server could not be reached or did not answer in time."""

    def __init__(self, detail: str = ""):
        super().__init__("The task service is not reachable right now; try again in a moment.")
        self.detail = detail


RETRIES = 2


def root_cause(exc: BaseException) -> BaseException:
    """The first leaf of an exception group (the SDK's task groups wrap transport errors)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


class McpConnection:
    """An MCP client session on a background event loop, shared by every thread of the process.

    A call that fails in transport drops the session; the next try opens a new one. Calls that are safe to
    repeat (read-only or idempotent tools, or writes carrying an idempotency key) are retried (RETRIES times).
    """

    def __init__(self, url: str, token: str, *, timeout: float = 15.0):
        self.url = url
        self._token = token
        self.timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mcp-client", daemon=True)
        self._thread.start()
        self._client: Client | None = None
        self._owner: asyncio.Task[None] | None = None
        self._close: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._tools: dict[str, Tool] = {}

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the connection's loop and wait for its result (from any other thread)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _session(self) -> Client:
        """The open session, opening one if needed. A task of its own holds it open: its task groups must be
        entered and left in one task, while calls come from many (each `run` is a task of its own)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._client is None:
                opened: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
                self._close = asyncio.Event()
                self._owner = asyncio.create_task(self._hold_session(opened, self._close))
                self._client = await opened
            return self._client

    async def _hold_session(self, opened: "asyncio.Future[Client]", close: asyncio.Event) -> None:
        try:
            async with (
                httpx2.AsyncClient(
                    headers={"Authorization": f"Bearer {self._token}"},
                    timeout=self.timeout,
                    event_hooks={"request": [_add_request_id]},
                ) as http,
                Client(streamable_http_client(self.url, http_client=http), read_timeout_seconds=self.timeout) as client,
            ):
                opened.set_result(client)
                await close.wait()
        except BaseException as exc:  # a session that breaks ends here, not in a caller's task
            if not opened.done():
                opened.set_exception(exc)
            else:
                log.debug("the MCP session ended with an error", exc_info=True)

    async def _drop_session(self) -> None:
        owner, close = self._owner, self._close
        self._client, self._owner, self._close = None, None, None
        if close is not None:
            close.set()
        if owner is not None:
            try:
                await asyncio.wait_for(owner, timeout=5)
            except Exception:  # the session is broken already; closing it may fail too
                log.debug("closing a broken MCP session failed", exc_info=True)

    async def alist_tools(self) -> list[Tool]:
        async def fetch() -> list[Tool]:
            return list((await (await self._session()).list_tools()).tools)

        tools = await self._with_retry(fetch, retry=True)
        self._tools = {tool.name: tool for tool in tools}
        return tools

    async def acall(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Call a tool; its structured result, or ToolError / ServiceUnavailable."""

        async def call() -> CallToolResult:
            return await (await self._session()).call_tool(name, arguments)

        result = await self._with_retry(call, retry=await self._safe_to_repeat(name, arguments))
        if result.is_error:
            raise ToolError(" ".join(getattr(block, "text", "") for block in result.content).strip())
        if result.structured_content is None:
            raise ToolError(f"{name} returned no structured result")
        return result.structured_content

    async def _safe_to_repeat(self, name: str, arguments: dict[str, Any]) -> bool:
        if "idempotency_key" in arguments:
            return True
        if not self._tools:
            try:
                await self.alist_tools()
            except ServiceUnavailable:
                return False
        annotations = self._tools[name].annotations if name in self._tools else None
        return bool(annotations and (annotations.read_only_hint or annotations.idempotent_hint))

    async def _with_retry(self, attempt: Any, *, retry: bool) -> Any:
        """Up to RETRIES more tries, a little apart (another replica may answer), for calls safe to repeat.
        A timeout is not retried: a server that hangs once is likely to hang again, and the user is waiting."""
        for tries_left in range(RETRIES if retry else 0, -1, -1):
            try:
                return await attempt()
            except (ToolError, asyncio.CancelledError):
                raise
            except Exception as exc:  # transport failures arrive as many types (httpx, anyio, MCP errors)
                cause = root_cause(exc)
                await self._drop_session()
                timed_out = "Timeout" in type(cause).__name__ or "timed out" in str(cause).lower()
                if not tries_left or timed_out:
                    log.warning("MCP call failed (%s); giving up", type(cause).__name__)
                    raise ServiceUnavailable(f"{type(cause).__name__}: {cause}") from exc
                log.warning("MCP call failed (%s); retrying", type(cause).__name__)
                await asyncio.sleep(random.uniform(0.05, 0.25))
        raise AssertionError("unreachable")

    def list_tools(self) -> list[Tool]:
        return self.run(self.alist_tools())

    def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return self.run(self.acall(name, arguments))

    def close(self) -> None:
        if self._thread.is_alive():
            self.run(self._drop_session())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)


class UserTools:
    """Async tool calls for one user (what the offline assistant and the agent call): user_id is injected."""

    def __init__(self, connection: McpConnection, user_id: str):
        self.connection = connection
        self.user_id = user_id

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return await self.connection.acall(name, {**arguments, "user_id": self.user_id})


class TodoClient:
    """Typed, synchronous tool calls for one user."""

    def __init__(self, connection: McpConnection, user_id: str):
        self.connection = connection
        self.user_id = user_id
        self.tools = UserTools(connection, user_id)

    @classmethod
    def open(cls, url: str, token: str, user_id: str, *, timeout: float = 15.0) -> "TodoClient":
        return cls(McpConnection(url, token, timeout=timeout), user_id)

    def call(self, name: str, **arguments: Any) -> dict[str, Any]:
        """Any tool by name, with user_id filled in; arguments left as None are not sent."""
        sent = {key: value for key, value in arguments.items() if value is not None}
        return self.connection.call(name, {**sent, "user_id": self.user_id})

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
        due = due_date.isoformat() if isinstance(due_date, dt.date) else due_date
        result = self.call(
            "add_task",
            title=title,
            description=description,
            priority=priority,
            due_date=due,
            tags=tags or [],
            idempotency_key=idempotency_key,
        )
        return TaskOut.model_validate(result)

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
        before = due_before.isoformat() if isinstance(due_before, dt.date) else due_before
        result = self.call(
            "list_tasks",
            status=status,
            priority=priority,
            tag=tag,
            due_before=before,
            overdue=overdue or None,
            search=search,
            sort=sort,
            limit=limit,
            offset=offset,
        )
        return TaskList.model_validate(result)

    def task_rows(self, *, status: Status = "all", page_size: int = 200) -> list[dict[str, Any]]:
        """Every task as a flat dict (all pages), ready for `pandas.DataFrame(rows)`."""
        rows: list[dict[str, Any]] = []
        while True:
            page = self.list_tasks(status=status, limit=page_size, offset=len(rows))
            rows.extend(task.model_dump() for task in page.tasks)
            if not page.tasks or len(rows) >= page.total:
                return rows

    def complete_task(self, task_id: int) -> TaskOut:
        return TaskOut.model_validate(self.call("complete_task", task_id=task_id))

    def reopen_task(self, task_id: int) -> TaskOut:
        return TaskOut.model_validate(self.call("reopen_task", task_id=task_id))

    def update_task(self, task_id: int, **changes: Any) -> TaskOut:
        """Change any of title, description, priority, due_date, clear_due_date, tags."""
        if isinstance(changes.get("due_date"), dt.date):
            changes["due_date"] = changes["due_date"].isoformat()
        return TaskOut.model_validate(self.call("update_task", task_id=task_id, **changes))

    def delete_task(self, task_id: int) -> DeletedTask:
        return DeletedTask.model_validate(self.call("delete_task", task_id=task_id))

    # Conversations

    def create_conversation(self, title: str = "") -> ConversationOut:
        return ConversationOut.model_validate(self.call("create_conversation", title=title))

    def list_conversations(self, *, limit: int = 20, offset: int = 0) -> ConversationList:
        return ConversationList.model_validate(self.call("list_conversations", limit=limit, offset=offset))

    def get_conversation(
        self, conversation_id: uuid.UUID | str, *, limit: int | None = None
    ) -> ConversationWithMessages:
        result = self.call("get_conversation", conversation_id=str(conversation_id), limit=limit)
        return ConversationWithMessages.model_validate(result)

    def append_messages(self, conversation_id: uuid.UUID | str, messages: list[MessageIn]) -> AppendResult:
        payload = [message.model_dump(exclude_none=True) for message in messages]
        result = self.call("append_messages", conversation_id=str(conversation_id), messages=payload)
        return AppendResult.model_validate(result)

    def delete_conversation(self, conversation_id: uuid.UUID | str) -> DeletedConversation:
        return DeletedConversation.model_validate(
            self.call("delete_conversation", conversation_id=str(conversation_id))
        )
