"""A configured model that fails in every way, mixed with good turns in one conversation, end to end through the
agent, the real MCP server and Postgres: each failure is a clear Notice, the caps hold (model requests are
counted), nothing typed is lost, the offline assistant takes over, and the stored history, and what the model is
sent next, stay well formed."""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from app.agent import Agent
from app.client import McpConnection, TodoClient
from devtools.fake_model import Call, CutStream, Delay, FakeOpenAI, Garbage, Reply, Status, Text, ToolCalls
from tests.app.support.faults import (
    McpProcess,
    TurnOutcome,
    assert_well_formed,
    inject,
    model_agent,
    stored_history,
    take_turn,
)

pytestmark = pytest.mark.faults

MAX_TOOL_STEPS = 3
RETRIES = 1  # the SDK's own retries: a 429, a 5xx and a timeout are asked twice, a broken stream once
SLOW = 0.5  # the model timeout of a turn with a slow model, whose answer comes 60 times later (at 30 s)


@dataclass
class Step:
    """One turn of the conversation: what the user types, what the model answers, what must come of it."""

    text: str
    replies: list[Reply]
    requests: int  # model requests this turn makes, exactly
    fault: str | None = None  # the fault category; None for a good turn
    faults: int = 0  # faulty model answers this turn serves (counted as injected faults)
    notice: str | None = None  # a phrase of the one Notice the user sees
    reply: str | None = None  # a phrase of the text the user sees
    default: Reply | None = None  # the model's answer to every request of this turn (endless tool calls)
    titles: list[str] = field(default_factory=list)  # every task title after the turn, in order
    impatient: bool = False  # the turn's agent waits SLOW s for the model (else the generous default)


CONVERSATION = [
    Step(
        "add buy milk",
        [ToolCalls([Call("add_task", {"title": "buy milk"})]), Text("Added task 1: buy milk.")],
        requests=2,
        reply="Added task 1: buy milk.",
        titles=["buy milk"],
    ),
    Step(
        "add call mom",
        [Delay(30.0, Text("too late"))] * (1 + RETRIES),
        requests=1 + RETRIES,
        impatient=True,
        fault="model_slow",
        faults=1 + RETRIES,
        notice="did not answer in time",
        reply="Added task 2",
        titles=["buy milk", "call mom"],
    ),
    Step(
        "what's open?",
        [Status(429)] * (1 + RETRIES),
        requests=1 + RETRIES,
        fault="model_429",
        faults=1 + RETRIES,
        notice="rate-limiting requests (429)",
        reply="call mom",
        titles=["buy milk", "call mom"],
    ),
    Step(
        "done with the milk",
        [ToolCalls([Call("complete_task", {"task_id": 1})]), Text("Completed task 1: buy milk.")],
        requests=2,
        reply="Completed task 1",
        titles=["buy milk", "call mom"],
    ),
    Step(
        "add water plants",
        [Status(500)] * (1 + RETRIES),
        requests=1 + RETRIES,
        fault="model_500",
        faults=1 + RETRIES,
        notice="answered with an error (500)",
        reply="Added task 3",
        titles=["buy milk", "call mom", "water plants"],
    ),
    Step(
        "add pay rent",
        [CutStream(after_chunks=2, then_text="I will add pay rent for you right away")],
        requests=1,
        fault="model_cut_stream",
        faults=1,
        notice="the model's answer was cut off",
        reply="Added task 4",
        titles=["buy milk", "call mom", "water plants", "pay rent"],
    ),
    Step(
        "add book dentist",
        [ToolCalls([Call("add_task", '{"title": "book dentist", "priority": ')])],
        requests=1,
        fault="model_malformed_arguments",
        faults=1,
        notice="unreadable arguments for add_task",
        reply="Added task 5",
        titles=["buy milk", "call mom", "water plants", "pay rent", "book dentist"],
    ),
    Step(
        "keep listing",
        [],
        default=ToolCalls([Call("list_tasks", {})]),
        requests=MAX_TOOL_STEPS,
        fault="model_endless_tool_calls",
        faults=1,
        notice=f"stopped after {MAX_TOOL_STEPS} rounds",
        titles=["buy milk", "call mom", "water plants", "pay rent", "book dentist"],
    ),
    Step(
        "delete task 3",
        [ToolCalls([Call("drop_database", {"everything": True})])],
        requests=1,
        fault="model_unknown_tool",
        faults=1,
        notice="tool that does not exist",
        reply="Deleted task 3",
        titles=["buy milk", "call mom", "pay rent", "book dentist"],
    ),
    Step(
        "list everything, then tidy up",
        [ToolCalls([Call("list_tasks", {"status": "all"})]), Status(500), Status(500)],
        requests=1 + 1 + RETRIES,
        fault="model_500_after_a_step",
        faults=1 + RETRIES,
        notice="steps above were done",
        titles=["buy milk", "call mom", "pay rent", "book dentist"],
    ),
    Step(
        "add garbage in, garbage out",
        [Garbage()],
        requests=1,
        fault="model_garbage",
        faults=1,
        notice="could not be read",
        reply="Added task 6",
        titles=["buy milk", "call mom", "pay rent", "book dentist", "garbage in, garbage out"],
    ),
    Step(
        "rename task 5 to book the dentist",
        [
            ToolCalls([Call("update_task", {"task_id": 5, "title": "book the dentist"})]),
            Text("Renamed task 5 to book the dentist."),
        ],
        requests=2,
        reply="Renamed task 5",
        titles=["buy milk", "call mom", "pay rent", "book the dentist", "garbage in, garbage out"],
    ),
]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def connection(mcp_process: Callable[..., McpProcess], connection_to: Callable[..., McpConnection]) -> McpConnection:
    return connection_to(mcp_process().url)


def agent_for(connection: McpConnection, fake: FakeOpenAI, **settings: object) -> Agent:
    values: dict[str, object] = {"model_retries": RETRIES, "max_tool_steps": MAX_TOOL_STEPS, "history_messages": 200}
    return model_agent(fake.base_url, **{**values, **settings})


@pytest.mark.parametrize("window", [200, 5], ids=["whole-history", "history-window-5"])
def test_a_conversation_mixing_good_and_failing_model_turns(
    connection: McpConnection, fake: FakeOpenAI, user_id: str, window: int
) -> None:
    """With a window of 5 the model sees only the recent messages: the window may start inside a turn (at a tool
    result), and the history sent must still be well formed."""
    todo = TodoClient(connection, acting_for=user_id)
    agent = agent_for(connection, fake, history_messages=window)
    impatient = agent_for(connection, fake, history_messages=window, model_timeout=SLOW)
    conversation_id = str(todo.create_conversation().conversation_id)
    typed: list[str] = []

    for step in CONVERSATION:
        first_request = len(fake.requests)
        fake.script(*step.replies)
        fake.default = step.default or Text("(unexpected extra model request)")
        if step.fault:
            inject(step.fault, step.faults)
        outcome: TurnOutcome = take_turn(impatient if step.impatient else agent, todo, conversation_id, step.text)
        typed.append(step.text)
        where = f"turn {step.text!r}"

        assert outcome.error is None, f"{where}: {outcome.error!r}"
        assert len(fake.requests) - first_request == step.requests, f"{where}: model requests (the caps)"
        assert fake.pending == 0, f"{where}: the scripted replies were all asked for"
        if step.notice is None:
            assert outcome.notices == [], f"{where}: {outcome.notices}"
        else:
            assert len(outcome.notices) == 1 and step.notice in outcome.notices[0], f"{where}: {outcome.notices}"
        if step.reply is not None:
            assert step.reply in outcome.text, f"{where}: {outcome.text!r}"
        assert [t.title for t in todo.list_tasks(status="all").tasks] == step.titles, f"{where}: no task twice"

        # What the model was sent this turn: the whole stored conversation, well formed, ending with this text.
        for request in fake.requests[first_request:]:
            sent = request["messages"]
            assert sent[0]["role"] == "system"
            assert_well_formed(sent[1:])
            users = [m["content"] for m in sent if m["role"] == "user"]
            assert users and users == typed[-len(users) :], f"{where}: the recent typed messages, in order"
            if window >= 500:
                assert users == typed, f"{where}: nothing typed is lost"

        # What is stored: every typed message once, in order, each turn ends with a reply, well formed.
        stored = todo.get_conversation(conversation_id).messages
        assert [m.content for m in stored if m.role == "user"] == typed
        assert stored[-1].role == "assistant" and stored[-1].content and not stored[-1].tool_calls, where
        assert_well_formed(stored_history(todo, conversation_id))

    [milk] = [t for t in todo.list_tasks(status="all").tasks if t.title == "buy milk"]
    assert milk.completed


def test_a_model_that_numbers_its_tool_calls_per_answer_adds_every_task(
    connection: McpConnection, fake: FakeOpenAI, user_id: str
) -> None:
    """Some OpenAI-compatible servers give tool calls ids that repeat (`call_0` in every answer). The idempotency
    key names the turn (its message count) and the round as well as the call id, so an add in a later turn, or in
    a later round of the same turn, gets a key of its own: each task is added, none answered with an earlier one.
    (The call ids themselves repeat in the stored history: that is the provider's doing, not checked here.)"""
    todo = TodoClient(connection, acting_for=user_id)
    agent = agent_for(connection, fake)
    conversation_id = str(todo.create_conversation().conversation_id)
    inject("model_repeated_tool_call_ids", 2)
    fake.script(
        ToolCalls([Call("add_task", {"title": "buy milk"}, id="call_0")]),
        Text("Added task 1: buy milk."),
        ToolCalls([Call("add_task", {"title": "pay rent"}, id="call_0")]),
        Text("Added pay rent."),
        ToolCalls([Call("add_task", {"title": "call mom"}, id="call_0")]),
        ToolCalls([Call("add_task", {"title": "water plants"}, id="call_0")]),
        Text("Added call mom and water plants."),
    )
    take_turn(agent, todo, conversation_id, "add buy milk")
    second = take_turn(agent, todo, conversation_id, "add pay rent")
    [step] = second.steps
    assert step.result is not None and step.result["title"] == "pay rent", step.result
    third = take_turn(agent, todo, conversation_id, "add call mom, then water plants")
    assert [s.result["title"] for s in third.steps if s.result] == ["call mom", "water plants"], third.steps
    assert [t.title for t in todo.list_tasks(status="all").tasks] == [
        "buy milk",
        "pay rent",
        "call mom",
        "water plants",
    ]


def test_a_slow_model_is_given_up_on_within_the_timeout_and_its_retries(
    connection: McpConnection, fake: FakeOpenAI, user_id: str
) -> None:
    """The whole turn with a model that never answers takes about timeout x (1 + retries), not the model's delay."""
    todo = TodoClient(connection, acting_for=user_id)
    agent = agent_for(connection, fake, model_timeout=SLOW)
    conversation_id = str(todo.create_conversation().conversation_id)
    inject("model_slow", 1 + RETRIES)
    fake.default = Delay(30.0, Text("far too late"))
    started = time.monotonic()
    outcome = take_turn(agent, todo, conversation_id, "add call the bank")
    took = time.monotonic() - started
    assert len(fake.requests) == 1 + RETRIES
    assert took < SLOW * (1 + RETRIES) + 3, f"the turn took {took:.1f} s"
    assert "did not answer in time" in outcome.notices[0] and "Added task 1" in outcome.text
