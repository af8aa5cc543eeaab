"""A local OpenAI-compatible Chat Completions server, written for the tests and benchmarks.

It is real HTTP: uvicorn serves it on ``127.0.0.1`` on a free port, in a background thread, so the
code under test talks to it through the official ``openai`` SDK exactly as it would talk to OpenAI,
Ollama or vLLM (``base_url=fake.base_url``). Requests are handled concurrently by async handlers.

Usage::

    with FakeOpenAI() as fake:
        fake.script(
            ToolCalls([Call("add_task", {"title": "milk"})]),
            Text("Added milk."),
        )
        client = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
        ...  # run the agent
        assert fake.requests[1]["messages"][-1]["role"] == "tool"

Each ``POST /v1/chat/completions`` consumes the next scripted reply; when the script is empty,
``fake.default`` answers: either a reply, or a callable ``(request_body) -> reply`` (called on the
server's event loop: keep it quick and non-blocking; never stop a database or kill a process in it,
the client's timeout keeps running meanwhile). ``GET /v1/models`` lists ``models``.

To act while a request is pending (stop a database "while the model is thinking"), script a
:class:`Gate`: the request waits at it, off the test's thread and without blocking other requests,
until the test opens it. The test runs the code under test in a thread of its own, waits until a
request has reached the gate, acts, then opens it::

    gate = Gate(ToolCalls([Call("add_task", {"title": "pay rent"})]))
    fake.script(gate, Text("Sorry, I could not add it."))
    with ThreadPoolExecutor(1) as pool:
        turn = pool.submit(run_the_turn)
        gate.wait_reached()  # the request is at the model; nothing answered it yet
        database.stop()  # from the test's thread, taking as long as it takes
        gate.open()
        outcome = turn.result()

The client's timeout runs while the gate is closed, so give it one the test does not measure
(seconds, not the time the action takes). A gate that is never opened is a model that never answers
(until the server stops): a timeout test with no race between the delay and the timeout.

Streaming (``"stream": true``) follows OpenAI's wire format: SSE ``data: {chunk}`` events, every chunk
with ``id``, ``object: "chat.completion.chunk"``, ``created`` and ``model`` (the request's model);
a first delta with ``role: "assistant"``; for tool calls a first delta per call with ``index``,
``id``, ``type: "function"``, ``function.name`` and empty ``arguments``, then deltas with ``index``
and argument fragments; a last delta with ``finish_reason`` (``"stop"`` or ``"tool_calls"``); a usage
chunk with empty ``choices`` when the request asks for ``stream_options.include_usage``; then
``data: [DONE]``. ``n`` and every other sampling parameter are ignored.

A responder that raises, or returns something that is not a reply, is answered with a 500 and
recorded in ``errors``; leaving the ``with`` block then raises :class:`ResponderError`, so a broken
test responder cannot pass as a model outage that the code under test handled gracefully.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeAlias

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

__all__ = [
    "Call",
    "CutStream",
    "Delay",
    "FakeOpenAI",
    "Garbage",
    "Gate",
    "Reply",
    "Responder",
    "ResponderError",
    "Status",
    "Text",
    "ToolCalls",
]


# --------------------------------------------------------------------------------------------------
# Replies


@dataclass(frozen=True)
class Text:
    """An assistant text message; streamed in pieces of ``chunk_size`` characters."""

    content: str
    chunk_size: int = 8

    def __post_init__(self) -> None:
        _check_chunk_size(self.chunk_size)


@dataclass(frozen=True)
class Call:
    """One function call. ``arguments`` as a dict is JSON-encoded; a str is sent verbatim (so it
    may be malformed JSON). Without an ``id`` one of the form ``call_<24 hex>`` is generated."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class ToolCalls:
    """An assistant message calling one or more tools (several = parallel tool calls).
    Argument strings are streamed in fragments of ``chunk_size`` characters."""

    calls: Sequence[Call]
    chunk_size: int = 8

    def __post_init__(self) -> None:
        if not self.calls:
            raise ValueError("ToolCalls needs at least one Call")
        _check_chunk_size(self.chunk_size)


@dataclass(frozen=True)
class Status:
    """An HTTP status reply, e.g. 429, 500 or 503. ``body`` defaults to an OpenAI-style
    ``{"error": {...}}``; ``retry_after`` (seconds) adds a ``retry-after`` header."""

    code: int
    body: dict[str, Any] | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class Delay:
    """Wait ``seconds`` (without blocking other requests), then answer with ``then``."""

    seconds: float
    then: Reply

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValueError("Delay.seconds must be >= 0")


@dataclass(frozen=True, eq=False)
class Gate:
    """Hold the answer until the test calls ``open()`` (from any thread), then answer with ``then``.

    A request that reaches the gate sets ``reached`` (``wait_reached()`` waits for it); it then waits
    without blocking other requests, and with no timeout of its own, until the gate is opened or the
    server stops. One gate may hold several requests (script it more than once, or make it the
    default); once open it lets each through at once. Combines with :class:`Delay` either way round.
    """

    then: Reply
    reached: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    opened: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(
        default_factory=list, init=False, repr=False
    )

    def open(self) -> None:
        """Let every request waiting at the gate through, and every later one at once."""
        with self._lock:
            self.opened.set()
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that server's loop is closed: nothing waits any more
                loop.call_soon_threadsafe(event.set)

    def wait_reached(self, timeout: float = 60.0) -> None:
        """Return once a request has reached the gate; AssertionError if none did within ``timeout`` s."""
        if not self.reached.wait(timeout):
            raise AssertionError(f"no chat completion request reached the Gate within {timeout:.0f} s")

    async def _passed(self, closing: asyncio.Event | None) -> None:
        """On the server's loop: wait until the gate is open (or the server is stopping)."""
        event = asyncio.Event()
        waiter = (asyncio.get_running_loop(), event)
        with self._lock:
            if not self.opened.is_set():
                self._waiters.append(waiter)
            else:
                event.set()
        self.reached.set()  # after registering: an open() from now on wakes this request
        try:
            waits = [asyncio.ensure_future(event.wait())]
            if closing is not None:
                waits.append(asyncio.ensure_future(closing.wait()))
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in waits:
                    task.cancel()
        finally:
            with self._lock, contextlib.suppress(ValueError):
                self._waiters.remove(waiter)


@dataclass(frozen=True)
class CutStream:
    """Start answering ``then_text`` and drop the connection mid-body.

    Streaming: the role chunk and ``after_chunks`` content chunks of ``chunk_size`` characters are
    sent, then the connection is closed: no finish_reason chunk, no ``[DONE]``, an unterminated
    chunked body. Non-streaming: the first half of the JSON completion is sent, then the close.
    """

    after_chunks: int
    then_text: str
    chunk_size: int = 8

    def __post_init__(self) -> None:
        if self.after_chunks < 0:
            raise ValueError("CutStream.after_chunks must be >= 0")
        _check_chunk_size(self.chunk_size)


@dataclass(frozen=True)
class Garbage:
    """A 200 whose body is ``body`` verbatim, under the content type the client expects
    (``text/event-stream`` when streaming, else ``application/json``).

    The default is neither a JSON document nor an SSE stream of JSON chunks: it is an SSE ``data:``
    line whose payload is broken JSON, so the SDK fails to decode it both ways. A body without any
    ``data:`` line (e.g. an HTML page) is skipped silently by SSE parsers: a stream with no chunks.
    """

    body: str = "data: {this is not json\n\n"


Reply: TypeAlias = Text | ToolCalls | Status | Delay | Gate | CutStream | Garbage
"""Anything the fake can answer a chat completion request with."""

Responder: TypeAlias = Callable[[dict[str, Any]], Reply]
"""A callable default: gets the request's JSON body, returns the reply."""

_REPLY_TYPES = (Text, ToolCalls, Status, Delay, Gate, CutStream, Garbage)


def _check_chunk_size(chunk_size: int) -> None:
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")


class ResponderError(RuntimeError):
    """Raised on leaving ``FakeOpenAI`` when its responder failed during the block."""


# --------------------------------------------------------------------------------------------------
# Server


class FakeOpenAI:
    """The fake server. Use as a context manager (or ``start()`` / ``stop()``).

    :param latency: seconds added before every chat completion reply (before its first byte).
    :param default: the reply, or ``(request_body) -> reply`` callable, used when the script is
        empty. Changeable later through the ``default`` attribute.
    :param models: the ids listed by ``GET /v1/models``.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        default: Reply | Responder = Text("ok"),
        models: Sequence[str] = ("fake-model",),
    ) -> None:
        if latency < 0:
            raise ValueError("latency must be >= 0")
        self.latency = latency
        self.default: Reply | Responder = default
        self.models = tuple(models)
        self._lock = threading.Lock()
        self._script: deque[Reply] = deque()
        self._requests: list[dict[str, Any]] = []
        self._headers: list[dict[str, str]] = []
        self._errors: list[Exception] = []
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: asyncio.Event | None = None
        self._app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
                Route("/v1/models", self._list_models, methods=["GET"]),
            ]
        )

    # ---- public API ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: pass it as the SDK's ``base_url``."""
        if self._port is None:
            raise RuntimeError("FakeOpenAI is not running")
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A snapshot of the JSON bodies of every chat completion request received, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def headers(self) -> list[dict[str, str]]:
        """A snapshot of the headers (lower-case names) of each request in ``requests``."""
        with self._lock:
            return list(self._headers)

    @property
    def pending(self) -> int:
        """How many scripted replies have not been consumed yet."""
        with self._lock:
            return len(self._script)

    @property
    def errors(self) -> list[Exception]:
        """Exceptions raised by the responder (each was answered with a 500)."""
        with self._lock:
            return list(self._errors)

    def script(self, *replies: Reply) -> None:
        """Queue replies; each chat completion request consumes the next one, in order."""
        for reply in replies:
            if not isinstance(reply, _REPLY_TYPES):
                raise TypeError(f"not a reply: {reply!r} (a callable goes in .default)")
        with self._lock:
            self._script.extend(replies)

    def start(self) -> FakeOpenAI:
        """Bind a free port on 127.0.0.1 and serve in a background thread; returns self."""
        if self._thread is not None:
            raise RuntimeError("FakeOpenAI is already running")
        uvicorn_errors = logging.getLogger("uvicorn.error")
        if _HIDE_DELIBERATE_DROPS not in uvicorn_errors.filters:
            uvicorn_errors.addFilter(_HIDE_DELIBERATE_DROPS)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            http="h11",
            lifespan="off",
            log_config=None,  # leave the process's logging setup alone
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=3,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(sock),), name=f"FakeOpenAI:{self._port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("FakeOpenAI failed to start")
            time.sleep(0.002)
        return self

    def stop(self) -> None:
        """Shut down (idempotent). Pending Delay/Gate/latency waits end at once; takes ~0.2 s."""
        thread, server, loop, closing = self._thread, self._server, self._loop, self._closing
        if thread is None or server is None:
            return
        if loop is not None and closing is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(closing.set)
        server.should_exit = True
        thread.join(timeout=5)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5)
        self._thread = self._server = self._loop = self._closing = None
        self._port = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        errors = self.errors
        if errors and exc_type is None:
            raise ResponderError(f"the FakeOpenAI responder failed {len(errors)} time(s)") from errors[0]

    # ---- server internals ------------------------------------------------------------------------

    async def _serve(self, sock: socket.socket) -> None:
        assert self._server is not None
        self._loop = asyncio.get_running_loop()
        self._closing = asyncio.Event()
        await self._server.serve(sockets=[sock])

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up as soon as the server is stopping."""
        if seconds <= 0 or self._closing is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            reply: Reply | Responder = self._script.popleft() if self._script else self.default
        if not isinstance(reply, _REPLY_TYPES):
            reply = reply(body)
            if not isinstance(reply, _REPLY_TYPES):
                raise TypeError(f"the responder returned {reply!r}, not a reply")
        return reply

    async def _list_models(self, request: Request) -> JSONResponse:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models]
        return JSONResponse({"object": "list", "data": data})

    async def _chat_completions(self, request: Request) -> _RawResponse:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _json_response(400, _error_body(400, "The request body is not valid JSON."))
        if not isinstance(body, dict):
            return _json_response(400, _error_body(400, "The request body must be a JSON object."))
        with self._lock:
            self._requests.append(body)
            self._headers.append(dict(request.headers))
        try:
            reply = self._next_reply(body)
        except Exception as exc:
            with self._lock:
                self._errors.append(exc)
            message = f"FakeOpenAI responder raised {exc!r}"
            return _json_response(500, {"error": {"message": message, "type": "fake_responder_error"}})
        await self._sleep(self.latency)
        while isinstance(reply, Delay | Gate):
            if isinstance(reply, Delay):
                await self._sleep(reply.seconds)
            else:
                await reply._passed(self._closing)
            reply = reply.then
        return _render(reply, body)


# --------------------------------------------------------------------------------------------------
# Wire format


class _DropConnection(Exception):
    """Raised after a partial body: uvicorn then closes the connection (a deliberate cut)."""


class _HideDeliberateDrops(logging.Filter):
    """Keeps uvicorn from logging our deliberate cuts as application errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _DropConnection))


_HIDE_DELIBERATE_DROPS = _HideDeliberateDrops()


class _RawResponse:
    """An ASGI response sent as given: status, headers, body parts; optionally cut after the parts."""

    def __init__(
        self,
        status: int,
        headers: dict[str, str],
        parts: list[bytes],
        *,
        drop: bool = False,
        content_length: int | None = None,
    ) -> None:
        self.status = status
        self.headers = {"x-request-id": f"req_{uuid.uuid4().hex}", **headers}
        if content_length is not None:
            self.headers["content-length"] = str(content_length)
        self.parts = parts
        self.drop = drop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]
        await send({"type": "http.response.start", "status": self.status, "headers": raw_headers})
        for part in self.parts:
            await send({"type": "http.response.body", "body": part, "more_body": True})
        if self.drop:
            raise _DropConnection()
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _json_response(status: int, obj: Any, headers: dict[str, str] | None = None) -> _RawResponse:
    data = _dumps(obj)
    return _RawResponse(
        status, {"content-type": "application/json", **(headers or {})}, [data], content_length=len(data)
    )


_ERROR_KINDS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Bad request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def _error_body(code: int, message: str | None = None) -> dict[str, Any]:
    kind, err_code, default_message = _ERROR_KINDS.get(
        code, ("server_error" if code >= 500 else "invalid_request_error", None, f"HTTP {code}.")
    )
    return {"error": {"message": message or default_message, "type": kind, "param": None, "code": err_code}}


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class _Completion:
    """Builds the chunks / the completion object of one answer."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        model = body.get("model")
        self.model = model if isinstance(model, str) and model else "fake-model"
        options = body.get("stream_options")
        self.include_usage = isinstance(options, dict) and options.get("include_usage") is True
        self.prompt_tokens = _estimate_tokens(json.dumps(body.get("messages", [])))

    def _head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def usage(self, output: str) -> dict[str, int]:
        completion_tokens = _estimate_tokens(output)
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + completion_tokens,
        }

    def event(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        chunk = self._head("chat.completion.chunk")
        chunk["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
        if self.include_usage:
            chunk["usage"] = None
        return b"data: " + _dumps(chunk) + b"\n\n"

    def usage_event(self, output: str) -> bytes:
        chunk = self._head("chat.completion.chunk")
        chunk["choices"] = []
        chunk["usage"] = self.usage(output)
        return b"data: " + _dumps(chunk) + b"\n\n"

    def completion(self, message: dict[str, Any], finish_reason: str, output: str) -> dict[str, Any]:
        obj = self._head("chat.completion")
        obj["choices"] = [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}]
        obj["usage"] = self.usage(output)
        return obj


_SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}


def _render(reply: Reply, body: dict[str, Any]) -> _RawResponse:
    stream = body.get("stream") is True
    if isinstance(reply, Status):
        headers = {}
        if reply.retry_after is not None:
            seconds = reply.retry_after
            headers["retry-after"] = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
        payload = reply.body if reply.body is not None else (_error_body(reply.code) if reply.code >= 400 else {})
        return _json_response(reply.code, payload, headers)
    if isinstance(reply, Garbage):
        content_type = _SSE_HEADERS["content-type"] if stream else "application/json"
        data = reply.body.encode()
        return _RawResponse(200, {"content-type": content_type}, [data], content_length=len(data))

    answer = _Completion(body)
    if isinstance(reply, Text | CutStream):
        text = reply.content if isinstance(reply, Text) else reply.then_text
        pieces = _split(text, reply.chunk_size)
        message = {"role": "assistant", "content": text, "refusal": None}
        if not stream:
            data = _dumps(answer.completion(message, "stop", text))
            if isinstance(reply, CutStream):
                half = data[: len(data) // 2]
                return _RawResponse(
                    200, {"content-type": "application/json"}, [half], drop=True, content_length=len(data)
                )
            return _RawResponse(200, {"content-type": "application/json"}, [data], content_length=len(data))
        parts = [answer.event({"role": "assistant", "content": "", "refusal": None})]
        if isinstance(reply, CutStream):
            parts += [answer.event({"content": piece}) for piece in pieces[: reply.after_chunks]]
            return _RawResponse(200, _SSE_HEADERS, parts, drop=True)
        parts += [answer.event({"content": piece}) for piece in pieces]
        parts.append(answer.event({}, "stop"))
        if answer.include_usage:
            parts.append(answer.usage_event(text))
        parts.append(b"data: [DONE]\n\n")
        return _RawResponse(200, _SSE_HEADERS, parts)

    assert isinstance(reply, ToolCalls)
    calls = [
        (
            call.id or f"call_{uuid.uuid4().hex[:24]}",
            call.name,
            call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments),
        )
        for call in reply.calls
    ]
    output = "".join(name + arguments for _, name, arguments in calls)
    if not stream:
        tool_calls = [
            {"id": cid, "type": "function", "function": {"name": name, "arguments": arguments}}
            for cid, name, arguments in calls
        ]
        message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": tool_calls}
        return _json_response(200, answer.completion(message, "tool_calls", output))
    parts = []
    for index, (cid, name, arguments) in enumerate(calls):
        opening = {"index": index, "id": cid, "type": "function", "function": {"name": name, "arguments": ""}}
        delta: dict[str, Any] = {"tool_calls": [opening]}
        if index == 0:
            delta = {"role": "assistant", "content": None, "refusal": None, **delta}
        parts.append(answer.event(delta))
        for fragment in _split(arguments, reply.chunk_size):
            parts.append(answer.event({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}))
    parts.append(answer.event({}, "tool_calls"))
    if answer.include_usage:
        parts.append(answer.usage_event(output))
    parts.append(b"data: [DONE]\n\n")
    return _RawResponse(200, _SSE_HEADERS, parts)
