"""Fault-injection helpers: a real `python -m mcp_server` process, an HTTP proxy that can lose responses and
spread requests over replicas, and the per-category count of every fault the tests inject."""

import asyncio
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from app.agent import Agent, Event, Notice, StepFinished, TextDelta, TurnInterrupted
from app.client import ServiceUnavailable, TodoClient, ToolError
from app.settings import UISettings
from app.steps import ToolStep
from devtools import servers
from tests.support import TOKEN

ROOT = Path(__file__).resolve().parents[3]

FAULT_COUNTS: Counter[str] = Counter()
"""Faults injected in this session, per category; written to artifacts/fault-counts.json at the end."""


def inject(category: str, count: int = 1) -> None:
    FAULT_COUNTS[category] += count


# --------------------------------------------------------------------------------------------------
# The MCP server as a real process


class McpProcess(servers.McpProcess):
    """devtools' `python -m mcp_server` process with the test servers' service token (tests.support.TOKEN), and
    every fault it injects counted."""

    def __init__(self, database_url: str, port: int | None = None, **env: str):
        super().__init__(database_url, port=port, service_token=TOKEN, **env)

    def kill(self) -> None:
        inject("mcp_server_killed")
        super().kill()

    def freeze(self) -> None:
        inject("mcp_server_frozen")
        super().freeze()


# --------------------------------------------------------------------------------------------------
# An HTTP/1.1 proxy on loopback: round-robin per request, and responses it can lose on purpose


@dataclass
class Forwarded:
    """One request the proxy handled."""

    backend: int
    method: str
    tool: str | None
    status: int | None  # None: the backend was down or died before answering; 502 from refuse() too
    dropped: bool = False
    arguments: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0  # time.monotonic() when the proxy had read the request


@dataclass
class _DropRule:
    tool: str
    nth: int
    seen: int = 0
    fired: bool = False
    refuse: bool = False  # answer 502 without forwarding, instead of forwarding and dropping the answer


@dataclass
class _Message:
    head: bytes
    body: bytes
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False


async def _read_message(reader: asyncio.StreamReader, *, response: bool) -> _Message:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    message = _Message(head=head, body=b"", headers=headers)
    if response:
        message.status = int(lines[0].split()[1])
    if "content-length" in headers:
        message.body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        raw = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            raw += size_line
            size = int(size_line.split(b";")[0], 16)
            raw += await reader.readexactly(size + 2)
            if size == 0:
                break
        message.body = bytes(raw)
    elif response and message.status not in (204, 304) and message.status >= 200:
        message.body = await reader.read()  # delimited by the close
        message.close = True
    return message


class HttpProxy:
    """A loopback HTTP/1.1 proxy in a background thread, in front of one or more MCP servers.

    `balance="request"`: each request goes to the next backend in turn (an HTTP load balancer); `"connection"`:
    each client connection is pinned to the next backend in turn (a Kubernetes Service, which is what the chart
    puts in front of the MCP replicas). Either way every request is forwarded over a new backend connection,
    counted per backend port in `connections`. A backend that refuses the connection gets the client a 502, as
    from a load balancer that does not retry upstreams itself. `drop_response(tool, nth, count)` forwards the
    nth `tools/call` of that tool (and the count - 1 after it), waits for the whole response (so the server has
    committed) and closes the client's connection instead of relaying it. `refuse(tool, count)` answers the
    next count `tools/call`s of that tool with a 502 without forwarding them (nothing is done).
    """

    def __init__(self, backends: list[int], balance: Literal["request", "connection"] = "request"):
        self.backends = list(backends)
        self.balance = balance
        self.port = 0
        self.connections: Counter[int] = Counter()
        self.pinned: list[int] = []  # connection balancing: the backend of each client connection, in order
        self.log: list[Forwarded] = []
        self._rules: list[_DropRule] = []
        self._next = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> "HttpProxy":
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        ).result(timeout=5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._clients):
                writer.close()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    def __enter__(self) -> "HttpProxy":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def drop_response(self, tool: str, nth: int = 1, count: int = 1) -> None:
        with self._lock:
            self._rules.extend(_DropRule(tool, nth) for _ in range(count))

    def refuse(self, tool: str, count: int = 1) -> None:
        with self._lock:
            self._rules.extend(_DropRule(tool, 1, refuse=True) for _ in range(count))

    def calls(self, tool: str | None = None) -> list[Forwarded]:
        """The `tools/call` requests handled (of one tool if given), in order."""
        with self._lock:
            return [f for f in self.log if f.method == "tools/call" and (tool is None or f.tool == tool)]

    def _pick(self) -> int:
        with self._lock:
            port = self.backends[self._next % len(self.backends)]
            self._next += 1
            return port

    def _rule(self, method: str, tool: str | None) -> _DropRule | None:
        """The rule that fires for this request, if any."""
        with self._lock:
            for rule in self._rules:
                if method == "tools/call" and tool == rule.tool and not rule.fired:
                    rule.seen += 1
                    if rule.seen == rule.nth:
                        rule.fired = True
                        return rule
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        pinned = self._pick() if self.balance == "connection" else None
        if pinned is not None:
            with self._lock:
                self.pinned.append(pinned)
        try:
            while True:
                try:
                    request = await _read_message(reader, response=False)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                received = time.monotonic()
                method, tool, arguments = _describe(request.body)
                port = pinned if pinned is not None else self._pick()
                rule = self._rule(method, tool)
                drop = rule is not None and not rule.refuse
                try:
                    if rule is not None and rule.refuse:
                        inject("mcp_request_refused")
                        raise ConnectionRefusedError
                    backend_reader, backend_writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    status = 502 if rule is not None and rule.refuse else None
                    with self._lock:
                        self.log.append(Forwarded(port, method, tool, status, arguments=arguments, at=received))
                    body = b"bad gateway: the backend refused the connection"
                    writer.write(
                        b"HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\n"
                        + f"content-length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                    await writer.drain()
                    continue
                with self._lock:
                    self.connections[port] += 1
                try:
                    backend_writer.write(request.head + request.body)
                    await backend_writer.drain()
                    response = await _read_message(backend_reader, response=True)
                except (asyncio.IncompleteReadError, ConnectionError):
                    with self._lock:
                        self.log.append(Forwarded(port, method, tool, None, arguments=arguments, at=received))
                    return  # the backend died mid-request: the client sees its connection close
                finally:
                    backend_writer.close()
                with self._lock:
                    self.log.append(Forwarded(port, method, tool, response.status, drop, arguments, received))
                if drop:
                    inject("mcp_response_dropped")
                    return  # the server has answered (and committed); the client never hears it
                writer.write(response.head + response.body)
                await writer.drain()
                if response.close:
                    return
        finally:
            self._clients.discard(writer)
            writer.close()


def _describe(body: bytes) -> tuple[str, str | None, dict[str, Any]]:
    """(JSON-RPC method, tool name, tool arguments) of a request body."""
    try:
        message: Any = json.loads(body or b"null")
    except ValueError:
        return "?", None, {}
    if not isinstance(message, dict):
        return "?", None, {}
    params = message.get("params")
    if not isinstance(params, dict):
        return str(message.get("method", "?")), None, {}
    arguments = params.get("arguments")
    return str(message.get("method", "?")), params.get("name"), arguments if isinstance(arguments, dict) else {}


# --------------------------------------------------------------------------------------------------
# Driving the agent


def offline_agent() -> Agent:
    return Agent(UISettings(), llm=None)


MODEL_TIMEOUT = 30.0
"""The agents' model timeout: generous, as the fake answers at once (or when a test opens its Gate); a test of a
slow model sets a short one of its own, with a model that answers much later or never."""


def model_agent(base_url: str, **settings: Any) -> Agent:
    values: dict[str, Any] = {
        "openai_api_key": "test-key",
        "openai_base_url": base_url,
        "openai_model": "fake-model",
        "model_timeout": MODEL_TIMEOUT,
        "model_retries": 0,
        "max_tool_steps": 3,
        **settings,
    }
    return Agent.from_settings(UISettings(**values))


@dataclass
class TurnOutcome:
    events: list[Event]
    error: Exception | None = None

    @property
    def text(self) -> str:
        return "".join(event.text for event in self.events if isinstance(event, TextDelta))

    @property
    def notices(self) -> list[str]:
        return [event.text for event in self.events if isinstance(event, Notice)]

    @property
    def steps(self) -> list[ToolStep]:
        return [event.step for event in self.events if isinstance(event, StepFinished)]


def take_turn(agent: Agent, client: TodoClient, conversation_id: str, text: str) -> TurnOutcome:
    """Run one turn as `client`'s caller to its end; a ServiceUnavailable/ToolError (the user's message could not be stored) or a
    TurnInterrupted (it was, then the task service failed) it raises is kept with the events before it."""
    outcome = TurnOutcome(events=[])
    try:
        for event in agent.run_turn(client, conversation_id, text):
            outcome.events.append(event)
    except (ServiceUnavailable, ToolError, TurnInterrupted) as exc:
        outcome.error = exc
    return outcome


def unknown_outcome(tool: str) -> str:
    """The error step, and the tool result the model is sent, when a call got no answer from the task service."""
    return f"The task service did not answer, so whether {tool} was done is unknown; check with list_tasks."


REPLY_NOT_STORED = "the reply of a turn could not be stored"
"""What run_turn logs (and does not raise) when the task service fails while it stores the turn's reply."""


def assert_well_formed(messages: list[dict[str, Any]]) -> None:
    """Chat messages as a model accepts them: every tool message answers a call of the assistant message just
    before it (or of the same run of tool messages), every call of an assistant message is answered before
    the next non-tool message, and no two calls in the whole history share an id (a result must name its call)."""
    pending: list[str] = []
    seen: set[str] = set()
    for index, message in enumerate(messages):
        role = message["role"]
        if role == "tool":
            assert message.get("tool_call_id") in pending, (
                f"message {index}: tool result {message.get('tool_call_id')!r} answers no open call {pending}"
            )
            pending.remove(message["tool_call_id"])
            continue
        assert not pending, f"message {index} ({role}) comes before the results of tool calls {pending}"
        if role == "assistant" and message.get("tool_calls"):
            ids = [call.get("id") for call in message["tool_calls"]]
            assert all(ids) and len(set(ids)) == len(ids), f"message {index}: bad tool call ids {ids}"
            assert not seen & set(ids), f"message {index}: tool call ids {sorted(seen & set(ids))} used before"
            seen.update(ids)
            pending = list(ids)
    assert not pending, f"the history ends before the results of tool calls {pending}"


def stored_history(client: TodoClient, conversation_id: str) -> list[dict[str, Any]]:
    """The stored conversation as chat messages, exactly as stored. Not through openai_history: that now leaves
    out calls without results (and results without calls), so it would hide a malformed history."""
    history: list[dict[str, Any]] = []
    for message in client.get_conversation(conversation_id).messages:
        entry: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.tool_calls:
            entry["tool_calls"] = message.tool_calls
        if message.tool_call_id:
            entry["tool_call_id"] = message.tool_call_id
        history.append(entry)
    return history
