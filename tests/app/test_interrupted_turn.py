"""The page's run interrupted in the middle of a model turn. Streamlit stops a running script when the user acts
again (a new message, a click): the exception unwinds through st.write_stream, and the turn's generator is closed
where it stands, between a tool step's start and its end or just after it. What is stored must still be a well
formed history that says what was done."""

from collections.abc import Callable, Iterator

import pytest

from app.agent import Event, StepFinished, StepStarted
from app.client import McpConnection, TodoClient
from devtools.fake_model import Call, FakeOpenAI, Text, ToolCalls
from tests.app.support.faults import McpProcess, assert_well_formed, inject, model_agent, stored_history

pytestmark = pytest.mark.faults


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.mark.parametrize("stop_at", [StepStarted, StepFinished], ids=["step-started", "step-finished"])
def test_a_turn_abandoned_in_the_middle_of_a_step_leaves_a_well_formed_history(
    mcp_process: Callable[..., McpProcess],
    connection_to: Callable[..., McpConnection],
    fake: FakeOpenAI,
    user_id: str,
    stop_at: type[Event],
) -> None:
    """PRODUCT BUG. Agent._model adds the assistant message with the tool call to the turn before running it, and
    the tool's result only after `yield StepFinished`; run_turn's `finally` stores whatever the turn holds. So a
    turn closed at either yield stores a call without its result (openai_history then hides it from the model,
    which is not told that add_task ran: at step-finished the task exists and nothing stored says so)."""
    connection = connection_to(mcp_process().url)
    todo = TodoClient(connection, acting_for=user_id)
    agent = model_agent(fake.base_url)
    conversation_id = str(todo.create_conversation().conversation_id)
    fake.script(ToolCalls([Call("add_task", {"title": "pay rent"}, id="call_rent")]), Text("Added task 1: pay rent."))

    inject("turn_abandoned")
    turn = agent.run_turn(todo, conversation_id, "add pay rent")
    for event in turn:
        if isinstance(event, stop_at):
            break
    turn.close()  # what Streamlit's interruption does to the generator st.write_stream was reading

    tasks = [task.title for task in todo.list_tasks(status="all").tasks]
    assert tasks == (["pay rent"] if stop_at is StepFinished else []), tasks
    history = stored_history(todo, conversation_id)
    assert history[0] == {"role": "user", "content": "add pay rent"}
    assert_well_formed(history)
    if tasks:
        results = [m["content"] for m in history if m["role"] == "tool"]
        assert any('"title":"pay rent"' in result for result in results), f"the add is not recorded: {history}"
