"""Two `python -m mcp_server` replicas on one database behind one address (a round-robin proxy, one request to
each replica in turn): every tool works whichever replica answers, and with one replica killed the other carries
on, reads within McpConnection's retries."""

from collections.abc import Callable
from typing import Any

import pytest

from app.client import McpConnection, ServiceUnavailable, TodoClient
from contract.schemas import MessageIn
from tests.app.support.faults import HttpProxy, McpProcess, assert_well_formed, offline_agent, stored_history, take_turn

pytestmark = pytest.mark.faults

MCP_RETRIES = 2  # McpConnection tries a call that is safe to repeat this many more times (pinned, not imported)


@pytest.fixture
def replicas(mcp_process: Callable[..., McpProcess]) -> list[McpProcess]:
    servers = [mcp_process(wait=False), mcp_process(wait=False)]  # both migrate at once: the advisory lock
    return [server.wait_ready() for server in servers]


def attempts(proxy: HttpProxy, tool: str, call: Callable[[], Any]) -> tuple[Any, int]:
    """The call's result, and how many times the proxy saw it (1, or more with the client's retries)."""
    before = len(proxy.calls(tool))
    result = call()
    return result, len(proxy.calls(tool)) - before


def test_every_tool_works_whichever_replica_answers(
    replicas: list[McpProcess], connection_to: Callable[..., McpConnection], user_id: str
) -> None:
    with HttpProxy([server.port for server in replicas]) as proxy:
        connection = connection_to(proxy.url)
        todo = TodoClient(connection, acting_for=user_id)

        conversation_id = str(todo.create_conversation("replicas").conversation_id)
        todo.append_messages(conversation_id, [MessageIn(role="user", content="hello")])
        first = todo.add_task("buy milk", priority="high", tags=["home"])
        second = todo.add_task("pay rent", due_date="2026-12-01")
        assert (first.id, second.id) == (1, 2), "task numbers are per user, whichever replica numbered them"
        assert [t.title for t in todo.list_tasks().tasks] == ["buy milk", "pay rent"]
        assert todo.complete_task(1).completed
        assert not todo.reopen_task(1).completed
        assert todo.update_task(2, title="pay the rent", clear_due_date=True).due_date is None
        assert todo.delete_task(1).task.title == "buy milk"
        assert [t.title for t in todo.list_tasks(status="all").tasks] == ["pay the rent"]

        agent = offline_agent()
        for text in ("add call mom", "what's open?", "done with call mom", "delete task 2"):
            outcome = take_turn(agent, todo, conversation_id, text)
            assert outcome.error is None and outcome.text, (text, outcome)
        conversation = todo.get_conversation(conversation_id)
        assert [m.content for m in conversation.messages if m.role == "user"] == [
            "hello",
            "add call mom",
            "what's open?",
            "done with call mom",
            "delete task 2",
        ]
        assert_well_formed(stored_history(todo, conversation_id))
        assert [t.title for t in todo.list_tasks(status="all").tasks] == ["call mom"]
        assert todo.list_conversations().total == 1
        todo.delete_conversation(conversation_id)
        assert todo.list_conversations().total == 0

        calls = proxy.calls()
        assert all(call.status == 200 for call in calls), [(c.tool, c.status) for c in calls if c.status != 200]
        served = {server.port: sum(1 for c in calls if c.backend == server.port) for server in replicas}
        assert all(count >= 5 for count in served.values()), f"both replicas answered tool calls: {served}"
        assert all(proxy.connections[server.port] >= 5 for server in replicas), proxy.connections


def test_one_replica_killed_behind_a_kubernetes_service(
    replicas: list[McpProcess], connection_to: Callable[..., McpConnection], user_id: str
) -> None:
    """Balanced per connection, as by the chart's Service: the client's retry opens a new connection, which
    lands on the other replica. Reads (and idempotent writes) need at most one retry; a write that is not safe
    to repeat fails once with nothing changed and works when sent again."""
    by_port = {server.port: server for server in replicas}
    with HttpProxy(list(by_port), balance="connection") as proxy:
        connection = connection_to(proxy.url)
        todo = TodoClient(connection, acting_for=user_id)
        conversation_id = str(todo.create_conversation().conversation_id)
        todo.add_task("buy milk")
        todo.append_messages(conversation_id, [MessageIn(role="user", content="before")])

        first_dead = by_port[proxy.pinned[-1]]
        first_dead.kill()  # the replica this client's connection goes to
        listed, tries = attempts(proxy, "list_tasks", lambda: todo.list_tasks(status="all"))
        assert [t.title for t in listed.tasks] == ["buy milk"] and tries == 2, "one retry, on the other replica"
        assert proxy.pinned[-1] != first_dead.port
        for _ in range(3):
            conversation, tries = attempts(proxy, "get_conversation", lambda: todo.get_conversation(conversation_id))
            assert [m.content for m in conversation.messages] == ["before"] and tries == 1
            done, tries = attempts(proxy, "complete_task", lambda: todo.complete_task(1))
            assert done.completed and tries == 1

        first_dead.start()  # back on its port; then the replica the client now uses dies
        second_dead = by_port[proxy.pinned[-1]]
        second_dead.kill()
        message = [MessageIn(role="user", content="after")]
        with pytest.raises(ServiceUnavailable):
            todo.append_messages(conversation_id, message)
        assert [c.status for c in proxy.calls("append_messages")][-1] is None, "it never reached a live replica"
        assert [m.content for m in todo.get_conversation(conversation_id).messages] == ["before"], "nothing changed"
        todo.append_messages(conversation_id, message)  # sent again: the new connection goes to the live replica

        agent = offline_agent()
        for text in ("add call mom", "what's open?"):
            outcome = take_turn(agent, todo, conversation_id, text)
            assert outcome.error is None and outcome.text, (text, outcome)
        users = [m.content for m in todo.get_conversation(conversation_id).messages if m.role == "user"]
        assert users == ["before", "after", "add call mom", "what's open?"], "each message once"
        assert_well_formed(stored_history(todo, conversation_id))
        assert [t.title for t in todo.list_tasks(status="all").tasks] == ["buy milk", "call mom"]


def test_one_replica_killed_behind_a_per_request_balancer(
    replicas: list[McpProcess], connection_to: Callable[..., McpConnection], user_id: str
) -> None:
    """Balanced per request, by an HTTP load balancer that does not retry a refused upstream itself: every other
    request goes to the dead replica until it is taken out. A read must succeed within McpConnection's retries.
    (This failed while McpConnection reopened an SDK session before each retry: the reopening request took the
    live replica's turn, so every retry landed on the dead one. Requests now stand alone: nothing to reopen.)"""
    with HttpProxy([server.port for server in replicas], balance="request") as proxy:
        connection = connection_to(proxy.url)
        todo = TodoClient(connection, acting_for=user_id)
        conversation_id = str(todo.create_conversation().conversation_id)
        todo.add_task("buy milk")
        replicas[0].kill()

        for _ in range(3):
            listed, tries = attempts(proxy, "list_tasks", lambda: todo.list_tasks(status="all"))
            assert [t.title for t in listed.tasks] == ["buy milk"] and tries <= 1 + MCP_RETRIES
            conversation, tries = attempts(proxy, "get_conversation", lambda: todo.get_conversation(conversation_id))
            assert conversation.messages == [] and tries <= 1 + MCP_RETRIES
