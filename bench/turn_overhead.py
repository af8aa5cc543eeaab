"""A chat turn's own overhead: everything but the model's time, with the test model server answering at once.

Each turn runs the real agent: store the user's message and read the history (one call), one streamed model round
that calls add_task through the real MCP server and Postgres, a second round that streams the reply, then store
the reply.
The offline assistant's turn (no model) is measured beside it.
"""

import argparse
import time
from typing import Any

from app.agent import Agent
from app.client import McpConnection, TodoClient
from app.settings import UISettings
from bench.common import SERVICE_TOKEN as TOKEN
from bench.common import running_stack
from bench.stats import HEADER, summarize
from contract.tools import ADD_TASK
from devtools.fake_model import Call, FakeOpenAI, Reply, Text, ToolCalls


def responder(body: dict[str, Any]) -> Reply:
    """Call add_task for a user's message, then answer the tool result with a short text."""
    last = body["messages"][-1]
    if last["role"] == "tool":
        return Text("Added it to your list.")
    return ToolCalls([Call(ADD_TASK, {"title": last["content"][:60], "priority": "high"})])


def measure(agent: Agent, todo: TodoClient, turns: int) -> list[float]:
    conversation_id = str(todo.create_conversation().conversation_id)
    latencies = []
    for number in range(turns):
        started = time.perf_counter()
        for _ in agent.run_turn(todo, conversation_id, f"add task number {number}"):
            pass
        latencies.append(time.perf_counter() - started)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=100)
    args = parser.parse_args()
    with running_stack() as (_, base), FakeOpenAI(default=responder) as fake:
        connection = McpConnection(f"{base}/mcp", TOKEN)
        settings = UISettings(mcp_url=f"{base}/mcp", openai_api_key="bench", openai_base_url=fake.base_url)
        model_agent = Agent.from_settings(settings)
        offline_agent = Agent(settings, llm=None)
        measure(model_agent, TodoClient(connection, acting_for="warm-up"), 5)
        with_model = measure(model_agent, TodoClient(connection, acting_for="bench-model"), args.turns)
        offline = measure(offline_agent, TodoClient(connection, acting_for="bench-offline"), args.turns)
        connection.close()
    print(f"\nChat turn overhead over {args.turns} turns (model answering at once)\n{HEADER}")
    print(
        summarize("turn with the model: 2 streamed rounds, add_task, 3 MCP calls", with_model, 0, sum(with_model)).row()
    )
    print(summarize("turn with the offline assistant", offline, 0, sum(offline)).row())


if __name__ == "__main__":
    main()
