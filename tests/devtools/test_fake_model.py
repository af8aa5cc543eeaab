"""The fake OpenAI server, checked through the real ``openai`` SDK (and raw HTTP for the wire format)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2
import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState

from devtools.fake_model import (
    Call,
    CutStream,
    Delay,
    FakeOpenAI,
    Garbage,
    Gate,
    ResponderError,
    Status,
    Text,
    ToolCalls,
)

MODEL = "fake-model"
USER = [{"role": "user", "content": "add milk to my list"}]
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "add_task",
            "description": "Add a task.",
            "parameters": {
                "type": "object",
                "properties": {"title": {"type": "string"}, "due": {"type": "string"}},
                "required": ["title"],
            },
        },
    },
    {
        "type": "function",
        "function": {"name": "list_tasks", "parameters": {"type": "object", "properties": {}}},
    },
]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def client(fake: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0) as sdk:
        yield sdk


def _sse_events(raw: str) -> list[str]:
    events = [block for block in raw.split("\n\n") if block]
    assert all(event.startswith("data: ") for event in events), events
    return [event.removeprefix("data: ") for event in events]


# ---- streaming ------------------------------------------------------------------------------------


def test_text_stream_reassembles_in_chunks(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    text = "Added 'milk' to your list. Anything else? ✓"
    fake.script(Text(text, chunk_size=5))

    stream = client.chat.completions.create(
        model="my-model", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    *chunks, usage_chunk = list(stream)

    assert usage_chunk.choices == [] and usage_chunk.usage is not None
    assert usage_chunk.usage.completion_tokens == len(text) // 4
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert "".join(pieces) == text
    assert pieces[0] == "Added" and len(pieces) == -(-len(text) // 5)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks][-2:] == [None, "stop"]
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert {c.model for c in chunks} == {"my-model"}
    assert all(c.created > 1_700_000_000 for c in chunks)


def test_stream_wire_format_and_usage(fake: FakeOpenAI) -> None:
    fake.script(ToolCalls([Call("add_task", {"title": "milk"}, id="call_1")], chunk_size=4))
    body = {"model": MODEL, "messages": USER, "stream": True, "stream_options": {"include_usage": True}}

    response = httpx2.post(f"{fake.base_url}/chat/completions", json=body)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _sse_events(response.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    for chunk in chunks:
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["id"] == chunks[0]["id"] and chunk["model"] == MODEL
        assert isinstance(chunk["created"], int)
    first_call = chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert first_call == {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "add_task", "arguments": ""},
    }
    fragments = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[1:-2]]
    assert all(set(f) == {"index", "function"} and f["index"] == 0 for f in fragments)
    assert "".join(f["function"]["arguments"] for f in fragments) == '{"title": "milk"}'
    assert len(fragments) == 5  # 17 characters in pieces of 4
    assert chunks[-2]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == []
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0


def test_parallel_tool_calls_accumulate_with_the_sdk(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(
        ToolCalls(
            [
                Call("add_task", {"title": "buy milk", "due": "2026-12-01"}, id="call_add"),
                Call("list_tasks", {}),
            ],
            chunk_size=3,
        )
    )
    state = ChatCompletionStreamState()
    deltas = 0
    for chunk in client.chat.completions.create(model=MODEL, messages=USER, tools=TOOLS, stream=True):
        deltas += bool(chunk.choices and chunk.choices[0].delta.tool_calls)
        state.handle_chunk(chunk)

    choice = state.get_final_completion().choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [c.function.name for c in calls] == ["add_task", "list_tasks"]
    assert calls[0].id == "call_add"
    assert calls[1].id.startswith("call_") and len(calls[1].id) == len("call_") + 24
    assert json.loads(calls[0].function.arguments) == {"title": "buy milk", "due": "2026-12-01"}
    assert json.loads(calls[1].function.arguments) == {}
    assert deltas > 10  # arguments really arrived in fragments


def test_stream_helper_gives_tool_calls_and_text(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(ToolCalls([Call("add_task", {"title": "milk"}, id="call_7")]), Text("Done: milk."))

    with client.chat.completions.stream(model=MODEL, messages=USER, tools=TOOLS) as stream:
        events = list(stream)
        final = stream.get_final_completion()
    done = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    assert [(e.name, e.index, e.arguments) for e in done] == [("add_task", 0, '{"title": "milk"}')]
    call = (final.choices[0].message.tool_calls or [])[0]
    assert (call.id, call.function.name, final.choices[0].finish_reason) == ("call_7", "add_task", "tool_calls")

    with client.chat.completions.stream(model=MODEL, messages=USER) as stream:
        text_done = [e.content for e in stream if e.type == "content.done"]
    assert text_done == ["Done: milk."]


# ---- non-streaming --------------------------------------------------------------------------------


def test_non_streaming_tool_calls_and_text(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(ToolCalls([Call("add_task", {"title": "milk"}, id="call_9"), Call("list_tasks", "{}")]))

    completion = client.chat.completions.create(model=MODEL, messages=USER, tools=TOOLS)

    assert completion.object == "chat.completion" and completion.model == MODEL
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    calls = choice.message.tool_calls or []
    assert [(c.id, c.type, c.function.name, c.function.arguments) for c in calls] == [
        ("call_9", "function", "add_task", '{"title": "milk"}'),
        (calls[1].id, "function", "list_tasks", "{}"),
    ]
    assert completion.usage is not None and completion.usage.completion_tokens > 0

    text = client.chat.completions.create(model=MODEL, messages=USER)  # the script is empty: default
    assert (text.choices[0].message.content, text.choices[0].finish_reason) == ("ok", "stop")


def test_malformed_arguments_arrive_verbatim(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    broken = '{"title": "milk", "due": '
    fake.script(ToolCalls([Call("add_task", broken)]), ToolCalls([Call("add_task", broken)], chunk_size=2))

    completion = client.chat.completions.create(model=MODEL, messages=USER, tools=TOOLS)
    assert (completion.choices[0].message.tool_calls or [])[0].function.arguments == broken

    fragments = [
        tc.function.arguments
        for chunk in client.chat.completions.create(model=MODEL, messages=USER, tools=TOOLS, stream=True)
        for tc in chunk.choices[0].delta.tool_calls or []
        if tc.function and tc.function.arguments
    ]
    assert "".join(fragments) == broken
    with pytest.raises(json.JSONDecodeError):
        json.loads("".join(fragments))


# ---- scripting and recording ----------------------------------------------------------------------


def test_script_order_then_default(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(Text("one"), Text("two"))
    assert fake.pending == 2
    answers = [client.chat.completions.create(model=MODEL, messages=USER) for _ in range(3)]
    assert [a.choices[0].message.content for a in answers] == ["one", "two", "ok"]
    assert fake.pending == 0
    with pytest.raises(TypeError):
        fake.script(lambda body: Text("x"))  # type: ignore[arg-type]


def test_requests_and_headers_are_recorded(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    messages = [{"role": "system", "content": "You manage todos."}, *USER]
    client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, stream=True).close()
    client.chat.completions.create(model="other", messages=USER, temperature=0)

    first, second = fake.requests
    assert first["messages"] == messages and first["tools"] == TOOLS and first["stream"] is True
    assert second["model"] == "other" and second["temperature"] == 0 and "tools" not in second
    assert len(fake.headers) == 2
    assert fake.headers[0]["authorization"] == "Bearer test"
    assert fake.headers[0]["content-type"] == "application/json"


def test_callable_default_drives_a_tool_loop(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    def responder(body: dict[str, Any]) -> Text | ToolCalls:
        last = body["messages"][-1]
        if last["role"] == "user":
            return ToolCalls([Call("add_task", {"title": last["content"]}, id="call_loop")])
        return Text(f"tool said: {last['content']}")

    fake.default = responder
    messages: list[Any] = [{"role": "user", "content": "milk"}]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS).choices[0].message
    call = (first.tool_calls or [])[0]
    messages += [first.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": call.id, "content": "#1"}]
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS).choices[0].message

    assert json.loads(call.function.arguments) == {"title": "milk"}
    assert second.content == "tool said: #1"
    assert fake.requests[1]["messages"][-1] == {"role": "tool", "tool_call_id": "call_loop", "content": "#1"}


def test_responder_failure_is_a_500_and_fails_the_block() -> None:
    with pytest.raises(ResponderError) as failure, FakeOpenAI(default=lambda body: body["nope"]) as fake:
        sdk = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
        with pytest.raises(openai.InternalServerError, match="responder raised KeyError"):
            sdk.chat.completions.create(model=MODEL, messages=USER)
    assert isinstance(failure.value.__cause__, KeyError)


def test_models_endpoint(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["fake-model"]


# ---- faults ---------------------------------------------------------------------------------------


def test_status_faults_raise_the_sdk_errors(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(
        Status(429, retry_after=2),
        Status(500),
        Status(503),
        Status(400, body={"error": {"message": "context too long", "type": "invalid_request_error"}}),
    )

    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model=MODEL, messages=USER, stream=True)
    assert limited.value.status_code == 429 and limited.value.code == "rate_limit_exceeded"
    assert limited.value.response.headers["retry-after"] == "2"
    assert limited.value.request_id and limited.value.request_id.startswith("req_")
    with pytest.raises(openai.InternalServerError) as broken:
        client.chat.completions.create(model=MODEL, messages=USER)
    assert broken.value.status_code == 500 and broken.value.type == "server_error"
    with pytest.raises(openai.InternalServerError) as overloaded:
        client.chat.completions.create(model=MODEL, messages=USER, stream=True)
    assert overloaded.value.status_code == 503
    with pytest.raises(openai.BadRequestError, match="context too long"):
        client.chat.completions.create(model=MODEL, messages=USER)


def test_sdk_retries_honour_retry_after(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.script(Status(503, retry_after=0.05), Status(429, retry_after=0.05), Text("recovered"))
    sdk = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=2)
    waits: list[float] = []
    calculate = sdk._calculate_retry_timeout

    def recorded(*args: Any, **kwargs: Any) -> float:
        waits.append(calculate(*args, **kwargs))
        return waits[-1]

    monkeypatch.setattr(sdk, "_calculate_retry_timeout", recorded)
    completion = sdk.chat.completions.create(model=MODEL, messages=USER)

    assert completion.choices[0].message.content == "recovered"
    assert len(fake.requests) == 3
    assert [h["x-stainless-retry-count"] for h in fake.headers] == ["0", "1", "2"]
    assert waits == [0.05, 0.05], "the SDK waited what retry-after said, not its default back-off (0.375 s and up)"


def test_delay_times_out_without_blocking_other_requests(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(Delay(5.0, Text("too late")))

    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.3).chat.completions.create(model=MODEL, messages=USER, stream=True)
    assert 0.25 < time.monotonic() - started < 2.0

    # the delayed handler is still sleeping on the server (for 4.5 s and more); another request is answered now
    started = time.monotonic()
    quick = client.chat.completions.create(model=MODEL, messages=USER)
    assert quick.choices[0].message.content == "ok"
    assert time.monotonic() - started < 2.0


def test_delay_then_answer_and_latency() -> None:
    with FakeOpenAI(latency=0.2) as fake:
        fake.script(Delay(0.3, ToolCalls([Call("list_tasks", {})])))
        sdk = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
        started = time.monotonic()
        completion = sdk.chat.completions.create(model=MODEL, messages=USER)
        elapsed = time.monotonic() - started
    assert (completion.choices[0].message.tool_calls or [])[0].function.name == "list_tasks"
    assert 0.5 <= elapsed < 2.5, elapsed  # latency + delay, and not many times that


def test_stop_is_fast_with_a_delay_pending() -> None:
    fake = FakeOpenAI().start()
    fake.script(Delay(30.0, Text("never")))
    sdk = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0, timeout=0.2)
    with pytest.raises(openai.APITimeoutError):
        sdk.chat.completions.create(model=MODEL, messages=USER)
    base_url = fake.base_url

    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 2.0, "the delay ended at once: no wait for it (30 s) or for the 3 s grace"
    with pytest.raises(RuntimeError):
        _ = fake.base_url
    with pytest.raises(openai.APIConnectionError):
        sdk.with_options(base_url=base_url).chat.completions.create(model=MODEL, messages=USER)


def test_a_gate_holds_the_answer_until_it_is_opened(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    gate = Gate(ToolCalls([Call("list_tasks", {})]))
    fake.script(gate, Text("after the gate"))

    def held() -> str:
        completion = client.chat.completions.create(model=MODEL, messages=USER)
        return (completion.choices[0].message.tool_calls or [])[0].function.name

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(held)
        gate.wait_reached()
        # the held request blocks nothing: the next one is answered while the gate is still closed
        assert client.chat.completions.create(model=MODEL, messages=USER).choices[0].message.content == (
            "after the gate"
        )
        assert not pending.done(), "a closed gate answers nothing"
        gate.open()
        assert pending.result(timeout=30) == "list_tasks"
    # once open, a gate answers at once (streamed as well), and it combines with Delay either way round
    opened = Gate(Delay(0.01, Text("through both")))
    opened.open()
    fake.script(Delay(0.01, gate), opened)
    stream = client.chat.completions.create(model=MODEL, messages=USER, stream=True)
    deltas = [call for c in stream if c.choices for call in c.choices[0].delta.tool_calls or []]
    assert [call.function.name for call in deltas if call.function and call.function.name] == ["list_tasks"]
    assert client.chat.completions.create(model=MODEL, messages=USER).choices[0].message.content == "through both"


def test_a_gate_that_is_never_opened_is_a_model_that_never_answers() -> None:
    fake = FakeOpenAI().start()
    gate = Gate(Text("never"))
    fake.script(gate)
    sdk = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0, timeout=0.2)
    with pytest.raises(openai.APITimeoutError):
        sdk.chat.completions.create(model=MODEL, messages=USER)
    assert gate.reached.is_set() and not gate.opened.is_set()

    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 2.0, "the held request ended at once: no wait for the 3 s grace"
    assert fake.errors == []


def test_cut_stream_raises_after_partial_content(
    fake: FakeOpenAI, client: openai.OpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    fake.script(CutStream(after_chunks=2, then_text="abcdefghijklmnopqrstuvwxyz"), CutStream(0, "x" * 40))

    received: list[str] = []
    with pytest.raises(openai.APIConnectionError) as cut:
        for chunk in client.chat.completions.create(model=MODEL, messages=USER, stream=True):
            received.append(chunk.choices[0].delta.content or "")
    # the SDK yields what arrived, then raises; there was no finish_reason and no [DONE]
    assert received == ["", "abcdefgh", "ijklmnop"]
    assert isinstance(cut.value.__cause__, httpx2.RemoteProtocolError)

    with pytest.raises(openai.APIConnectionError):  # non-streaming: half a JSON body, then the cut
        client.chat.completions.create(model=MODEL, messages=USER)
    # uvicorn logs before it closes the connection: deliberate cuts must not look like server errors
    assert [r.getMessage() for r in caplog.records if r.name.startswith("uvicorn")] == []


def test_garbage_body_is_not_an_openai_error(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(Garbage(), Garbage(), Garbage("<html>502 Bad Gateway</html>"))

    # the SDK lets the JSON decoding error through: callers must catch more than openai.OpenAIError
    with pytest.raises(json.JSONDecodeError):
        list(client.chat.completions.create(model=MODEL, messages=USER, stream=True))
    with pytest.raises(json.JSONDecodeError):
        client.chat.completions.create(model=MODEL, messages=USER)
    # a body without any "data:" line is skipped by the SSE parser: an empty stream, no error
    assert list(client.chat.completions.create(model=MODEL, messages=USER, stream=True)) == []


def test_bad_request_json_is_a_400_and_not_recorded(fake: FakeOpenAI) -> None:
    response = httpx2.post(f"{fake.base_url}/chat/completions", content=b"{nope")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert fake.requests == []


# ---- concurrency ----------------------------------------------------------------------------------


def test_concurrent_streams_do_not_serialise() -> None:
    # asyncio.run rather than an async test: pytest-asyncio is not among the dev requirements
    count, latency = 50, 0.2

    async def run_all(base_url: str) -> tuple[list[str], float]:
        async with openai.AsyncOpenAI(base_url=base_url, api_key="test", max_retries=0) as sdk:

            async def one(i: int) -> str:
                stream = await sdk.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": f"<{i}>"}], stream=True
                )
                return "".join([c.choices[0].delta.content or "" async for c in stream])

            started = time.monotonic()
            answers = await asyncio.gather(*(one(i) for i in range(count)))
            return answers, time.monotonic() - started

    with FakeOpenAI(latency=latency, default=lambda body: Text(body["messages"][-1]["content"] * 3)) as fake:
        answers, elapsed = asyncio.run(run_all(fake.base_url))

    assert answers == [f"<{i}><{i}><{i}>" for i in range(count)]
    assert len(fake.requests) == count
    assert latency <= elapsed < count * latency / 2, elapsed  # serialised it would take 10 s
