"""Stored conversations for the browser tests and the page benchmark: long histories written as the agent
stores them, through the MCP tools."""

import json
import uuid

from app.client import TodoClient
from contract.schemas import MessageIn

BATCH = 96  # messages per append_messages call


def seed_conversation(todo: TodoClient, title: str, turns: int, errand: str = "errand") -> uuid.UUID:
    """A conversation of `turns` offline-style turns (4 stored messages each: the user's "add <errand> N", the
    add_task call, its result, the reply); its id."""
    conversation = todo.create_conversation(title)
    batch: list[MessageIn] = []
    for number in range(1, turns + 1):
        call_id = f"call_{number}"
        arguments = {"title": f"{errand} {number}"}
        result = {"id": number, "title": arguments["title"], "priority": "medium", "completed": False}
        call = {"id": call_id, "type": "function", "function": {"name": "add_task", "arguments": json.dumps(arguments)}}
        batch += [
            MessageIn(role="user", content=f"add {errand} {number}"),
            MessageIn(role="assistant", tool_calls=[call]),
            MessageIn(role="tool", tool_call_id=call_id, content=json.dumps(result)),
            MessageIn(role="assistant", content=f"Added task {number}: {errand} {number}."),
        ]
        if len(batch) >= BATCH:
            todo.append_messages(conversation.conversation_id, batch)
            batch = []
    if batch:
        todo.append_messages(conversation.conversation_id, batch)
    return conversation.conversation_id
