"""The MCP server killed (-9) and restarted on the same port in the middle of a conversation, frozen (SIGSTOP),
and responses lost on the way back: the agent and the page keep what the user typed, recover on the same
McpConnection, retry what is safe to repeat with the same idempotency key, answer every tool call of the model
(with "unknown" when the task service did not answer), and never create a task twice."""

import contextlib
import itertools
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families
from streamlit.testing.v1 import AppTest

from app.agent import Turn, TurnInterrupted
from app.client import McpConnection, ServiceUnavailable, TodoClient
from app.settings import get_settings
from devtools.fake_model import Call, FakeOpenAI, Gate, Text, ToolCalls
from tests.app.support.faults import (
    REPLY_NOT_STORED,
    Forwarded,
    HttpProxy,
    McpProcess,
    assert_well_formed,
    model_agent,
    offline_agent,
    stored_history,
    take_turn,
    unknown_outcome,
)
from tests.support import TOKEN

pytestmark = pytest.mark.faults

PAGE = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
MCP_RETRIES = 2  # McpConnection tries a call that is safe to repeat this many more times (pinned, not imported)
KEY = re.compile(r"[0-9a-f]{40}")
NOT_SENT = "Your message was not sent; here it is to send again:"
MAYBE_SENT = "Your message may not have been saved: if it is not in the conversation after a reload, here it is:"
SAVED = "Your message is saved in this conversation; ask again in a moment."


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def titles(todo: TodoClient) -> list[str]:
    return [task.title for task in todo.list_tasks(status="all").tasks]


def user_texts(todo: TodoClient, conversation_id: str) -> list[str]:
    return [m.content for m in todo.get_conversation(conversation_id).messages if m.role == "user"]


def finished_tool_calls(server: McpProcess) -> Counter[str]:
    """How many tool calls the server has finished, per tool (whatever the outcome), from its /metrics."""
    finished: Counter[str] = Counter()
    metrics = httpx2.get(f"{server.base_url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "mcp_tool_calls_total":
                finished[sample.labels["tool"]] += int(sample.value)
    return finished


def spaced_retries(attempts: list[Forwarded]) -> None:
    """Each retry came a little after the try before it (50-250 ms of jitter, plus reopening the session)."""
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(attempts)]
    assert all(0.05 <= gap < 1.5 for gap in gaps), f"seconds between tries: {gaps}"


# --------------------------------------------------------------------------------------------------
# kill -9, then the same port again


@pytest.mark.parametrize("mode", ["offline", "model"])
def test_a_conversation_goes_on_after_the_server_is_killed_and_restarted(
    mode: str,
    mcp_process: Callable[..., McpProcess],
    connection_to: Callable[..., McpConnection],
    fake: FakeOpenAI,
    user_id: str,
) -> None:
    server = mcp_process()
    connection = connection_to(server.url)
    todo = TodoClient(connection, acting_for=user_id)
    agent = offline_agent() if mode == "offline" else model_agent(fake.base_url)
    if mode == "model":
        fake.script(
            ToolCalls([Call("add_task", {"title": "buy milk"})]),
            Text("Added task 1: buy milk."),
            ToolCalls([Call("list_tasks", {})]),
            Text("1. buy milk"),
        )
    conversation_id = str(todo.create_conversation().conversation_id)

    assert "Added task 1" in take_turn(agent, todo, conversation_id, "add buy milk").text
    listed = take_turn(agent, todo, conversation_id, "what's open?")
    assert listed.error is None and "buy milk" in listed.text
    before = todo.get_conversation(conversation_id).messages
    model_requests = len(fake.requests)

    server.kill()
    started = time.monotonic()
    lost = take_turn(agent, todo, conversation_id, "add call mom")
    assert isinstance(lost.error, ServiceUnavailable), lost
    assert "not reachable" in str(lost.error)
    assert time.monotonic() - started < 5, "a dead server fails the turn fast"
    assert lost.events == [], "the turn failed before anything happened (the page shows the text back)"
    assert len(fake.requests) == model_requests, "the model was not asked"
    assert "Group" not in lost.error.detail, lost.error.detail
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as down:
        todo.list_tasks()
    assert down.value.detail.startswith("ConnectError"), f"the root cause, not its exception group: {down.value}"
    assert time.monotonic() - started < 3, "a read is tried 1 + MCP_RETRIES times, a little apart, and fails fast"

    server.start()  # same port, same database; the McpConnection is not recreated
    after = todo.get_conversation(conversation_id).messages
    assert after == before, "the failed turn stored nothing: no half turn"

    if mode == "model":
        fake.script(ToolCalls([Call("add_task", {"title": "call mom"})]), Text("Added task 2: call mom."))
    resent = take_turn(agent, todo, conversation_id, "add call mom")
    assert resent.error is None and "Added task 2" in resent.text
    assert titles(todo) == ["buy milk", "call mom"]
    assert user_texts(todo, conversation_id) == ["add buy milk", "what's open?", "add call mom"]
    history = stored_history(todo, conversation_id)
    assert_well_formed(history)
    if mode == "model":
        sent = fake.requests[-2]["messages"][1:]  # the request of the resent turn, without the system prompt
        assert_well_formed(sent)
        assert [m["content"] for m in sent if m["role"] == "user"] == ["add buy milk", "what's open?", "add call mom"]


def test_the_server_killed_while_the_model_is_thinking(
    mcp_process: Callable[..., McpProcess],
    connection_to: Callable[..., McpConnection],
    fake: FakeOpenAI,
    user_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The user's message is stored, then the server dies before the model's tool call. The call (add_task, with
    its idempotency key: tried 1 + MCP_RETRIES times) gets an error result saying whether it was done is unknown,
    the model is told so and answers, and the turn ends without raising. Its messages cannot be stored (the
    server is still down): that is logged, the reply is lost and the user's message stays. The next turn, once
    the server is back, is well formed and adds the task once."""
    server = mcp_process()
    connection = connection_to(server.url)
    todo = TodoClient(connection, acting_for=user_id)
    agent = model_agent(fake.base_url)
    conversation_id = str(todo.create_conversation().conversation_id)
    sorry = "I could not reach your task list; please try again in a moment."

    # The turn runs in a thread of its own; its model request waits at the gate while this thread kills the
    # server, then the model calls add_task, and is asked again with the call's result.
    gate = Gate(ToolCalls([Call("add_task", {"title": "water plants"}, id="call_water")]))
    fake.script(gate, Text(sorry))
    with caplog.at_level(logging.WARNING, logger="app.agent"), ThreadPoolExecutor(1) as pool:
        pending = pool.submit(take_turn, agent, todo, conversation_id, "add water plants")
        try:
            gate.wait_reached()  # the user's message is stored: the model is thinking
            server.kill()
        finally:
            gate.open()
        started = time.monotonic()
        outcome = pending.result()
        took = time.monotonic() - started
    assert outcome.error is None and outcome.notices == [], outcome
    [step] = outcome.steps
    assert step.name == "add_task" and step.result is None and step.error == unknown_outcome("add_task"), step
    assert outcome.text == sorry
    assert len(fake.requests) == 2, "the model was asked again, with the call's result"
    sent = fake.requests[1]["messages"]
    assert sent[-1] == {
        "role": "tool",
        "tool_call_id": "call_water",
        "content": f"Error: {unknown_outcome('add_task')}",
    }
    assert_well_formed(sent[1:])
    assert took < 5, f"the rest of the turn took {took:.1f} s: a dead server fails each try at once"
    assert [r.getMessage() for r in caplog.records if REPLY_NOT_STORED in r.getMessage()], "the lost reply is logged"

    server.start()
    stored = todo.get_conversation(conversation_id).messages
    assert [(m.role, m.content) for m in stored] == [("user", "add water plants")], "only the stored-first message"
    assert titles(todo) == [], "the tool call never reached a server"

    fake.script(ToolCalls([Call("add_task", {"title": "water plants"})]), Text("Added task 1: water plants."))
    again = take_turn(agent, todo, conversation_id, "add water plants, please")
    assert again.error is None and "Added task 1" in again.text
    assert titles(todo) == ["water plants"]
    assert_well_formed(fake.requests[-1]["messages"][1:])
    assert_well_formed(stored_history(todo, conversation_id))
    assert fake.errors == []


def test_a_frozen_server_times_out_and_comes_back(
    mcp_process: Callable[..., McpProcess], connection_to: Callable[..., McpConnection], user_id: str
) -> None:
    """SIGSTOP: connections are accepted, nothing answers. A turn fails after one timeout (storing the user's
    message is not safe to repeat), and so does a read (a timeout is not retried: a frozen server costs one
    timeout, not two). Once the server runs again the same connection works.

    What a timed-out write can honestly promise: it was sent once, so it is done at most once, and nothing after
    it is done. It may still be done when the server resumes (the request was waiting in its socket): here the
    user's message of the timed-out turn is then stored. (What the page says then, "not sent", is the PRODUCT BUG
    of test_the_page_says_a_message_was_not_sent_only_if_it_was_not_stored.)"""
    timeout = 2.0
    server = mcp_process()
    connection = connection_to(server.url, timeout=timeout)
    todo = TodoClient(connection, acting_for=user_id)
    agent = offline_agent()
    conversation_id = str(todo.create_conversation().conversation_id)
    assert take_turn(agent, todo, conversation_id, "add buy milk").error is None
    before = todo.get_conversation(conversation_id).messages
    finished = finished_tool_calls(server)

    server.freeze()
    try:
        started = time.monotonic()
        frozen = take_turn(agent, todo, conversation_id, "add call mom")
        took = time.monotonic() - started
        assert isinstance(frozen.error, ServiceUnavailable) and frozen.events == [], frozen
        assert timeout - 0.5 < took < 2 * timeout - 0.5, f"the turn failed after {took:.1f} s, not one timeout"
        assert "timed out" in frozen.error.detail.lower(), frozen.error.detail
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as read:
            todo.list_tasks()
        took = time.monotonic() - started
        assert timeout - 0.5 < took < 2 * timeout - 0.5, f"a read failed after {took:.1f} s, not one timeout"
        assert "Timeout" in read.value.detail, read.value.detail
    finally:
        server.thaw()

    # What the frozen server had received (the turn's append_messages, the read's list_tasks) is done once its
    # metrics count them. A request it dropped instead is never counted: the generous wait then ends unanswered,
    # and the checks below hold either way (they are what a dropped request leaves too).
    received = Counter({"append_messages": 1, "list_tasks": 1})
    deadline = time.monotonic() + 30
    while not finished_tool_calls(server) - finished >= received and time.monotonic() < deadline:
        time.sleep(0.05)
    after = todo.get_conversation(conversation_id).messages
    assert after[: len(before)] == before
    assert [(m.role, m.content) for m in after[len(before) :]] in ([], [("user", "add call mom")]), (
        "of the timed-out turn, at most the user's message (sent once), and nothing after it"
    )
    assert titles(todo) == ["buy milk"], "the timed-out turn added no task"
    again = take_turn(agent, todo, conversation_id, "add pay rent")
    assert again.error is None and "Added task 2" in again.text
    assert titles(todo) == ["buy milk", "pay rent"]
    assert user_texts(todo, conversation_id) == [m.content for m in after if m.role == "user"] + ["add pay rent"]
    assert_well_formed(stored_history(todo, conversation_id))


# --------------------------------------------------------------------------------------------------
# Responses lost on the way back (a proxy forwards the request, lets the server commit, drops the answer)


@pytest.fixture
def proxied(
    mcp_process: Callable[..., McpProcess], connection_to: Callable[..., McpConnection]
) -> Iterator[tuple[HttpProxy, McpConnection]]:
    server = mcp_process()
    with HttpProxy([server.port]) as proxy:
        yield proxy, connection_to(proxy.url)


FAULTS = pytest.mark.parametrize(
    ("fault", "tries"),
    [("lost", 1), ("refused", MCP_RETRIES), ("lost", MCP_RETRIES)],
    ids=["answer-lost-once", "refused-twice", "answer-lost-twice"],
)
"""How the failed tries of a call fail: "refused", a 502 from the proxy (nothing was done), or "lost", done by the
server and its answer lost (the connection closes)."""


def fail(proxy: HttpProxy, tool: str, fault: str, tries: int) -> list[tuple[int, bool]]:
    """Make the next `tries` calls of the tool fail so; the (status, dropped) the proxy will log for them."""
    if fault == "lost":
        proxy.drop_response(tool, count=tries)
        return [(200, True)] * tries
    proxy.refuse(tool, count=tries)
    return [(502, False)] * tries


@FAULTS
def test_a_read_that_fails_in_transport_is_retried(
    proxied: tuple[HttpProxy, McpConnection], user_id: str, fault: str, tries: int
) -> None:
    """A read is tried up to 1 + MCP_RETRIES times, a little apart: it works when only the last try is answered."""
    proxy, connection = proxied
    todo = TodoClient(connection, acting_for=user_id)
    todo.add_task("buy milk")
    conversation_id = str(todo.create_conversation().conversation_id)
    failed = fail(proxy, "list_tasks", fault, tries)
    proxy.drop_response("get_conversation")

    listed = take_turn(offline_agent(), todo, conversation_id, "what's open?")
    assert listed.error is None and "buy milk" in listed.text, listed
    attempts = proxy.calls("list_tasks")
    assert [(c.status, c.dropped) for c in attempts] == [*failed, (200, False)], "failed tries, then one that worked"
    spaced_retries(attempts)

    assert user_texts(todo, conversation_id) == ["what's open?"]
    assert [c.dropped for c in proxy.calls("get_conversation")] == [True, False]


def test_an_offline_turn_whose_tool_fails_every_try_is_interrupted_with_the_message_kept(
    proxied: tuple[HttpProxy, McpConnection], user_id: str
) -> None:
    """The user's message is stored, then list_tasks fails on every try: the turn raises TurnInterrupted (the page
    then says the message is saved, not that it was not sent), the message is stored once, asking again works."""
    proxy, connection = proxied
    todo = TodoClient(connection, acting_for=user_id)
    todo.add_task("buy milk")
    conversation_id = str(todo.create_conversation().conversation_id)
    fail(proxy, "list_tasks", "refused", 1 + MCP_RETRIES)

    outcome = take_turn(offline_agent(), todo, conversation_id, "what's open?")
    assert isinstance(outcome.error, TurnInterrupted) and "not reachable" in str(outcome.error), outcome
    assert user_texts(todo, conversation_id) == ["what's open?"]
    again = take_turn(offline_agent(), todo, conversation_id, "what's open?")
    assert again.error is None and "buy milk" in again.text
    assert_well_formed(stored_history(todo, conversation_id))


@pytest.mark.parametrize("fault", ["refused", "lost"], ids=["refused", "answer-lost"])
def test_a_model_turn_whose_message_cannot_be_stored_asks_nothing_and_stores_at_most_once(
    proxied: tuple[HttpProxy, McpConnection], fake: FakeOpenAI, user_id: str, fault: str
) -> None:
    """Every try of append_messages for the user's message (which also reads the history for the model) fails:
    the turn raises ServiceUnavailable before anything else, saying the message may have reached the server
    (neither a 502 nor a lost answer tells), the model is not asked, the message is stored at most once (all the
    tries carry one idempotency key), and asking again works."""
    proxy, connection = proxied
    todo = TodoClient(connection, acting_for=user_id)
    agent = model_agent(fake.base_url)
    conversation_id = str(todo.create_conversation().conversation_id)
    failed = fail(proxy, "append_messages", fault, 1 + MCP_RETRIES)

    outcome = take_turn(agent, todo, conversation_id, "add pay rent")
    assert isinstance(outcome.error, ServiceUnavailable) and outcome.events == [], outcome
    assert outcome.error.maybe_done
    assert [(c.status, c.dropped) for c in proxy.calls("append_messages")] == failed
    keys = {c.arguments.get("idempotency_key") for c in proxy.calls("append_messages")}
    assert len(keys) == 1, "every try carries the same key"
    assert fake.requests == [], "the model is not asked"
    stored = user_texts(todo, conversation_id)
    assert stored == (["add pay rent"] if fault == "lost" else []), "stored by the first try that arrived, once"

    fake.script(ToolCalls([Call("add_task", {"title": "pay rent"})]), Text("Added task 1: pay rent."))
    again = take_turn(agent, todo, conversation_id, "add pay rent")
    assert again.error is None and "Added task 1" in again.text
    assert titles(todo) == ["pay rent"]
    assert user_texts(todo, conversation_id) == [*stored, "add pay rent"]
    assert_well_formed(fake.requests[-1]["messages"][1:])
    assert_well_formed(stored_history(todo, conversation_id))


def test_a_model_add_task_whose_response_is_lost_creates_one_task(
    proxied: tuple[HttpProxy, McpConnection], fake: FakeOpenAI, user_id: str
) -> None:
    proxy, connection = proxied
    todo = TodoClient(connection, acting_for=user_id)
    agent = model_agent(fake.base_url)
    conversation_id = str(todo.create_conversation().conversation_id)
    proxy.drop_response("add_task")
    fake.script(
        ToolCalls([Call("add_task", {"title": "pay rent", "priority": "high"}, id="call_rent")]),
        Text("Added task 1: pay rent."),
    )

    outcome = take_turn(agent, todo, conversation_id, "add pay rent, high priority")
    assert outcome.error is None and outcome.notices == [], outcome
    [step] = outcome.steps
    assert step.error is None and step.result is not None and step.result["id"] == 1

    attempts = proxy.calls("add_task")
    assert [(a.status, a.dropped) for a in attempts] == [(200, True), (200, False)], "committed, lost, retried"
    [key] = {a.arguments.get("idempotency_key") for a in attempts}
    assert isinstance(key, str) and KEY.fullmatch(key), f"the retry carried the same idempotency key: {key!r}"
    assert key == Turn(conversation_id, 1).key("0:call_rent"), "this turn's (the 1st message), round 0, call_rent"
    assert titles(todo) == ["pay rent"], "exactly one task"
    assert_well_formed(stored_history(todo, conversation_id))


@pytest.mark.parametrize("fault", ["refused", "lost"], ids=["refused", "answer-lost"])
def test_a_model_add_task_that_never_gets_an_answer_is_reported_unknown_and_done_at_most_once(
    proxied: tuple[HttpProxy, McpConnection], fake: FakeOpenAI, user_id: str, fault: str
) -> None:
    """Every try of add_task fails (refused: nothing done; answer-lost: done, and the PRODUCT BUG of FAULTS). It
    is tried 1 + MCP_RETRIES times, a little apart, always with the same key, so the task is created at most
    once. The model is told whether it was done is unknown, checks with list_tasks, and answers. The whole turn
    is stored, every call answered."""
    proxy, connection = proxied
    todo = TodoClient(connection, acting_for=user_id)
    agent = model_agent(fake.base_url)
    conversation_id = str(todo.create_conversation().conversation_id)
    failed = fail(proxy, "add_task", fault, 1 + MCP_RETRIES)
    fake.script(
        ToolCalls([Call("add_task", {"title": "pay rent"}, id="call_rent")]),
        ToolCalls([Call("list_tasks", {}, id="call_check")]),
        Text("I checked your list."),
    )
    done = ["pay rent"] if fault == "lost" else []

    outcome = take_turn(agent, todo, conversation_id, "add pay rent")
    assert outcome.error is None and outcome.notices == [], outcome
    added, checked = outcome.steps
    assert added.result is None and added.error == unknown_outcome("add_task"), added
    assert checked.result is not None and [t["title"] for t in checked.result["tasks"]] == done, checked
    assert fake.requests[1]["messages"][-1]["content"] == f"Error: {unknown_outcome('add_task')}"

    attempts = proxy.calls("add_task")
    assert [(a.status, a.dropped) for a in attempts] == failed
    keys = {a.arguments.get("idempotency_key") for a in attempts}
    assert keys == {Turn(conversation_id, 1).key("0:call_rent")}, f"every try carried the same key: {keys}"
    spaced_retries(attempts)
    assert titles(todo) == done, "at most one task"

    stored = stored_history(todo, conversation_id)
    assert_well_formed(stored)
    assert [m["role"] for m in stored] == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert stored[2]["content"] == f"Error: {unknown_outcome('add_task')}"


def test_an_offline_add_task_whose_response_is_lost_creates_one_task(
    proxied: tuple[HttpProxy, McpConnection], user_id: str
) -> None:
    """Without a model the offline assistant adds the task. Its add_task carries an idempotency key (this turn's,
    for its first add), so the lost answer is retried with the same key: one task, and the turn succeeds at the
    first attempt (the user is not asked to send it again)."""
    proxy, connection = proxied
    todo = TodoClient(connection, acting_for=user_id)
    agent = offline_agent()
    conversation_id = str(todo.create_conversation().conversation_id)
    proxy.drop_response("add_task")

    outcome = take_turn(agent, todo, conversation_id, "add renew passport")
    assert outcome.error is None and "Added task 1" in outcome.text, outcome
    attempts = proxy.calls("add_task")
    assert [(a.status, a.dropped) for a in attempts] == [(200, True), (200, False)], "committed, lost, retried"
    keys = {a.arguments.get("idempotency_key") for a in attempts}
    assert keys == {Turn(conversation_id, 1).key("offline-add-1")}, keys
    assert titles(todo) == ["renew passport"], "a lost response must not turn into a second task"
    assert_well_formed(stored_history(todo, conversation_id))


def test_a_lost_response_of_a_write_mid_turn_leaves_a_well_formed_history(
    proxied: tuple[HttpProxy, McpConnection], fake: FakeOpenAI, user_id: str
) -> None:
    """delete_task is not safe to repeat, so its lost answer is not retried. The call gets an error result (whether
    it was done is unknown), the model is told and answers, and the whole turn is stored at its end: the call,
    its result and the reply. Every later model request carries the call with its result."""
    proxy, connection = proxied
    todo = TodoClient(connection, acting_for=user_id)
    todo.add_task("old chore")
    agent = model_agent(fake.base_url)
    conversation_id = str(todo.create_conversation().conversation_id)
    proxy.drop_response("delete_task")
    reply = "I could not tell whether task 1 was deleted."
    fake.script(ToolCalls([Call("delete_task", {"task_id": 1}, id="call_del")]), Text(reply))

    outcome = take_turn(agent, todo, conversation_id, "delete task 1")
    assert outcome.error is None and outcome.notices == [], outcome
    [step] = outcome.steps
    assert step.result is None and step.error == unknown_outcome("delete_task"), step
    assert outcome.text == reply
    assert [c.dropped for c in proxy.calls("delete_task")] == [True], "not retried: delete is not idempotent"
    assert titles(todo) == [], "the server did delete it, once"
    arguments = json.dumps({"task_id": 1})
    call = {"id": "call_del", "type": "function", "function": {"name": "delete_task", "arguments": arguments}}
    result = f"Error: {unknown_outcome('delete_task')}"
    assert stored_history(todo, conversation_id) == [
        {"role": "user", "content": "delete task 1"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "content": result, "tool_call_id": "call_del"},
        {"role": "assistant", "content": reply},
    ]

    fake.script(Text("Your list is empty."))
    assert take_turn(agent, todo, conversation_id, "what's left?").error is None
    assert_well_formed(stored_history(todo, conversation_id))
    sent = fake.requests[-1]["messages"][1:]
    assert_well_formed(sent)
    assert {"role": "tool", "content": result, "tool_call_id": "call_del"} in sent, "the call kept with its result"


# --------------------------------------------------------------------------------------------------
# The page while the server is down


@pytest.fixture
def page_env(monkeypatch: pytest.MonkeyPatch, user_id: str) -> Iterator[Callable[..., None]]:
    def point_at(url: str, timeout: float = 30) -> None:  # generous: no page test means a timeout
        monkeypatch.setenv("MCP_URL", url)
        monkeypatch.setenv("MCP_TIMEOUT", str(timeout))
        get_settings.cache_clear()

    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MCP_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("AUTH_MODE", "none")
    monkeypatch.setenv("DEFAULT_USER", user_id)
    yield point_at
    get_settings.cache_clear()


def say(at: AppTest, text: str) -> AppTest:
    at.chat_input[0].set_value(text).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def shows_text_back(at: AppTest, text: str) -> bool:
    """The page says the message was not sent and shows it to send again (in a code block, to copy)."""
    said = any("not reachable" in e and NOT_SENT in e for e in errors(at))
    return said and any(c.value == text for c in at.code) and not any(SAVED in e for e in errors(at))


def test_the_page_with_the_server_down_shows_the_error_and_the_typed_text(
    page_env: Callable[..., None],
    mcp_process: Callable[..., McpProcess],
    connection_to: Callable[..., McpConnection],
    user_id: str,
) -> None:
    server = mcp_process()
    page_env(server.url)
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.run()
    assert not at.exception

    server.kill()
    say(at, "add call the plumber")
    assert shows_text_back(at, "add call the plumber"), (errors(at), [c.value for c in at.code])
    assert any("not reachable" in w.value for w in at.warning), "the task list says it could not be loaded"

    server.start()
    say(at, "add call the plumber")
    assert not at.error
    assert any("Added task 1" in m.value for m in at.markdown)
    todo = TodoClient(connection_to(server.url), acting_for=user_id)
    assert titles(todo) == ["call the plumber"]
    [conversation] = todo.list_conversations().conversations
    assert user_texts(todo, str(conversation.conversation_id)) == ["add call the plumber"]


def test_the_page_in_a_conversation_with_the_server_down_shows_the_typed_text(
    page_env: Callable[..., None],
    mcp_process: Callable[..., McpProcess],
    connection_to: Callable[..., McpConnection],
    user_id: str,
) -> None:
    """With a conversation open the page reads it first. With the server down it says so, keeps the conversation
    and still draws the chat box (it used to stop before it): what the user types is shown back, and once the
    server is back it is sent into the same conversation, once."""
    server = mcp_process()
    page_env(server.url)
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.run()
    say(at, "add buy milk")
    assert any("Added task 1" in m.value for m in at.markdown)
    conversation_id = at.session_state["conversation_id"]

    server.kill()
    say(at, "add call mom")
    assert "The task service is not reachable right now; try again in a moment." in errors(at), errors(at)
    assert shows_text_back(at, "add call mom"), (errors(at), [c.value for c in at.code])
    assert at.chat_input, "the chat box is drawn"
    assert at.session_state["conversation_id"] == conversation_id, "the conversation stays open"

    server.start()
    say(at, "add call mom")
    assert not at.error and any("Added task 2" in m.value for m in at.markdown)
    todo = TodoClient(connection_to(server.url), acting_for=user_id)
    assert user_texts(todo, conversation_id) == ["add buy milk", "add call mom"]
    assert titles(todo) == ["buy milk", "call mom"]


@contextlib.contextmanager
def page_behind_proxy(page_env: Callable[..., None], server: McpProcess) -> Iterator[tuple[HttpProxy, AppTest, str]]:
    """The page talking to the server through a proxy that can lose answers, after a first turn that added task
    1: (the proxy, the page, the conversation's id)."""
    with HttpProxy([server.port]) as proxy:
        page_env(proxy.url)
        at = AppTest.from_file(PAGE, default_timeout=30)
        at.run()
        say(at, "add buy milk")
        assert any("Added task 1" in m.value for m in at.markdown)
        yield proxy, at, at.session_state["conversation_id"]


def test_the_page_says_the_message_is_saved_when_the_turn_fails_after_storing_it(
    page_env: Callable[..., None],
    mcp_process: Callable[..., McpProcess],
    connection_to: Callable[..., McpConnection],
    user_id: str,
) -> None:
    """The task service fails after the user's message was stored (delete_task's answer is lost, and a delete is
    not repeated): the turn is interrupted, and the page says the message is saved in the conversation instead of
    offering it to send again. The next run of the page shows it in the history."""
    server = mcp_process()
    with page_behind_proxy(page_env, server) as (proxy, at, conversation_id):
        proxy.drop_response("delete_task")
        say(at, "delete task 1")
        assert any("not reachable" in e and e.endswith(SAVED) for e in errors(at)), errors(at)
        assert not any(NOT_SENT in e for e in errors(at)), errors(at)
        assert "delete task 1" not in [c.value for c in at.code], "not offered to send again"
        assert [c.dropped for c in proxy.calls("delete_task")] == [True]

        todo = TodoClient(connection_to(server.url), acting_for=user_id)
        assert user_texts(todo, conversation_id) == ["add buy milk", "delete task 1"]
        at.run()
        assert not at.error
        assert [m.value for m in at.markdown if m.value in ("add buy milk", "delete task 1")] == [
            "add buy milk",
            "delete task 1",
        ], "the saved message is in the history"


def test_a_lost_answer_to_storing_the_message_is_retried_and_stores_it_once(
    page_env: Callable[..., None],
    mcp_process: Callable[..., McpProcess],
    connection_to: Callable[..., McpConnection],
    user_id: str,
) -> None:
    """The answer to the append_messages that stores the user's message is lost after the server stored it (the
    connection is closed instead). The call carries an idempotency key, so McpConnection sends it again: the
    retry stores nothing more, gets the first answer, and the turn goes on. (Before the key, the page said "not
    sent" though the message was stored, and sending it again, as asked, stored it twice.)"""
    server = mcp_process()
    with page_behind_proxy(page_env, server) as (proxy, at, conversation_id):
        proxy.drop_response("append_messages")
        say(at, "add call mom")
        assert not errors(at), errors(at)
        assert any("Added task 2" in m.value for m in at.markdown)
        dropped = [c for c in proxy.calls("append_messages") if c.dropped]
        assert [c.status for c in dropped] == [200], "the server answered (it stored the message); the answer was lost"

        todo = TodoClient(connection_to(server.url), acting_for=user_id)
        assert user_texts(todo, conversation_id) == ["add buy milk", "add call mom"], "stored once"
        assert titles(todo) == ["buy milk", "call mom"]


def test_a_message_whose_fate_is_unknown_is_not_called_unsent(
    page_env: Callable[..., None],
    mcp_process: Callable[..., McpProcess],
    connection_to: Callable[..., McpConnection],
    user_id: str,
) -> None:
    """Every answer to storing the message is lost (the first and both retries): the server stored it once, and
    the page cannot know that. It must not say "not sent" (sending again would then look required); it says the
    message may not have been saved, and shows the text back."""
    server = mcp_process()
    with page_behind_proxy(page_env, server) as (proxy, at, conversation_id):
        proxy.drop_response("append_messages", count=3)
        say(at, "add call mom")
        assert any(MAYBE_SENT in e for e in errors(at)) and not any(NOT_SENT in e for e in errors(at)), errors(at)
        assert "add call mom" in [c.value for c in at.code], "the typed text is shown back"
        todo = TodoClient(connection_to(server.url), acting_for=user_id)
        assert user_texts(todo, conversation_id) == ["add buy milk", "add call mom"], "stored once, by the first try"
