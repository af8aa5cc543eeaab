"""Postgres stopped and started under a running `python -m mcp_server`: readiness follows the database, calls
fail fast with the storage message and recover without restarting anything, and a chat turn is all or nothing."""

import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import pytest

from app.client import McpConnection, TodoClient, ToolError
from devtools.fake_model import Call, FakeOpenAI, Gate, Text, ToolCalls
from devtools.postgres import LocalPostgres
from tests.app.support.faults import (
    REPLY_NOT_STORED,
    McpProcess,
    assert_well_formed,
    inject,
    model_agent,
    offline_agent,
    stored_history,
    take_turn,
)

pytestmark = pytest.mark.faults

STORAGE_DOWN = "Storage unavailable, try again in a moment. Nothing was changed."


class Outage:
    """A database of the test's own that can be stopped and started; each stop is a counted fault."""

    def __init__(self, postgres: LocalPostgres):
        self.postgres = postgres

    def stop(self) -> None:
        inject("postgres_stopped")
        self.postgres.stop()

    def start(self) -> None:
        self.postgres.start()


@pytest.fixture
def outage() -> Iterator[Outage]:
    with tempfile.TemporaryDirectory(prefix="todo-fault-pg-") as folder:
        postgres = LocalPostgres(Path(folder) / "pg").start()
        try:
            yield Outage(postgres)
        finally:
            postgres.stop(mode="immediate")


@pytest.fixture
def server(outage: Outage, mcp_process: Callable[..., McpProcess]) -> McpProcess:
    """The MCP server process on the test's own database (it migrates it on start)."""
    return mcp_process(database=outage.postgres.url, DB_CONNECT_TIMEOUT="2")


def readiness(server: McpProcess) -> tuple[int, float]:
    started = time.monotonic()
    status = httpx2.get(f"{server.base_url}/readyz", timeout=10).status_code
    return status, time.monotonic() - started


def fails_fast_with_storage_down(call: Callable[[], Any]) -> None:
    started = time.monotonic()
    with pytest.raises(ToolError) as raised:
        call()
    assert str(raised.value) == STORAGE_DOWN
    assert time.monotonic() - started < 5, "a call fails fast while the database is down"


def test_calls_fail_fast_and_recover_without_restarting_anything(
    outage: Outage, server: McpProcess, connection_to: Callable[..., McpConnection], user_id: str
) -> None:
    connection = connection_to(server.url)
    todo = TodoClient(connection, acting_for=user_id)
    agent = offline_agent()
    conversation_id = str(todo.create_conversation().conversation_id)
    assert "Added task 1" in take_turn(agent, todo, conversation_id, "add buy milk").text
    before = todo.get_conversation(conversation_id).messages
    assert readiness(server)[0] == 200
    pid = server.process.pid if server.process else None

    outage.stop()
    status, took = readiness(server)
    assert status == 503 and took < 5
    assert httpx2.get(f"{server.base_url}/healthz", timeout=5).status_code == 200
    fails_fast_with_storage_down(lambda: todo.add_task("during the outage"))
    fails_fast_with_storage_down(lambda: todo.list_tasks())  # a read is retried once, and still fast
    fails_fast_with_storage_down(lambda: todo.complete_task(1))

    started = time.monotonic()
    turn = take_turn(agent, todo, conversation_id, "add call mom")
    assert isinstance(turn.error, ToolError) and str(turn.error) == STORAGE_DOWN
    assert turn.events == [], "the turn failed on storing the user's message, before anything else"
    assert time.monotonic() - started < 5

    outage.start()
    assert readiness(server)[0] == 200
    assert server.process is not None and server.process.poll() is None and server.process.pid == pid
    assert todo.get_conversation(conversation_id).messages == before, "no part of the failed turn was stored"
    assert [t.title for t in todo.list_tasks(status="all").tasks] == ["buy milk"]
    again = take_turn(agent, todo, conversation_id, "add call mom")
    assert again.error is None and "Added task 2" in again.text
    assert [t.title for t in todo.list_tasks(status="all").tasks] == ["buy milk", "call mom"]
    assert_well_formed(stored_history(todo, conversation_id))


def test_the_database_stops_in_the_middle_of_a_model_turn(
    outage: Outage,
    server: McpProcess,
    connection_to: Callable[..., McpConnection],
    user_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The user's message is stored, then Postgres stops while the model answers: the tool call fails with the
    storage message, the model is told and answers, and the turn ends without raising. Its own messages (call,
    result, reply) are stored all together or not at all: here not at all, which is logged (the reply is lost,
    the user's message stays)."""
    connection = connection_to(server.url)
    todo = TodoClient(connection, acting_for=user_id)
    conversation_id = str(todo.create_conversation().conversation_id)
    with FakeOpenAI() as fake:
        agent = model_agent(fake.base_url)
        fake.script(ToolCalls([Call("add_task", {"title": "buy milk"})]), Text("Added task 1: buy milk."))
        assert take_turn(agent, todo, conversation_id, "add buy milk").error is None
        before = todo.get_conversation(conversation_id).messages

        # The turn runs in a thread of its own; its model request waits at the gate while this thread stops
        # Postgres (however long that takes: the agent's model timeout is generous), then the model answers.
        gate = Gate(ToolCalls([Call("add_task", {"title": "pay rent"})]))
        fake.script(gate, Text("Sorry, I could not add it."))
        with caplog.at_level(logging.WARNING, logger="app.agent"), ThreadPoolExecutor(1) as pool:
            pending = pool.submit(take_turn, agent, todo, conversation_id, "add pay rent")
            try:
                gate.wait_reached()  # the user's message is stored: the model is answering
                outage.stop()
            finally:
                gate.open()
            turn = pending.result()
        [step] = turn.steps
        assert step.error == STORAGE_DOWN, "the model was told the storage is down"
        assert fake.requests[-1]["messages"][-1]["content"] == f"Error: {STORAGE_DOWN}"
        assert turn.error is None and turn.text == "Sorry, I could not add it.", turn
        assert [r for r in caplog.records if REPLY_NOT_STORED in r.getMessage()], "storing the reply failed: logged"

        outage.start()
        after = todo.get_conversation(conversation_id).messages
        assert after[: len(before)] == before
        assert [(m.role, m.content) for m in after[len(before) :]] == [("user", "add pay rent")], (
            "only the message stored before the outage: none of the turn's own messages"
        )
        assert [t.title for t in todo.list_tasks(status="all").tasks] == ["buy milk"]

        fake.script(ToolCalls([Call("add_task", {"title": "pay rent"})]), Text("Added task 2: pay rent."))
        assert take_turn(agent, todo, conversation_id, "add pay rent").error is None
        assert [t.title for t in todo.list_tasks(status="all").tasks] == ["buy milk", "pay rent"]
        assert_well_formed(fake.requests[-1]["messages"][1:])
        assert_well_formed(stored_history(todo, conversation_id))
