"""A tool step (one tool call of a turn and its outcome) and how its result is written into the conversation.

The agent and the offline assistant make steps, the page draws them, and the history stores each step's result
as a tool message: the JSON of the result, or ERROR_PREFIX and the tool's sentence. `result_text` writes that
form and `steps_from_history` reads it back, so the history shows a step as the live turn did.
"""

import json
from dataclasses import dataclass
from typing import Any, Protocol

from contract.schemas import MessageOut

ERROR_PREFIX = "Error: "


class ToolCaller(Protocol):
    def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Call a tool (as the caller the client was made for) and return its structured result."""
        ...


@dataclass
class ToolStep:
    name: str
    arguments: dict[str, Any]
    result: dict[str, Any] | None = None
    error: str | None = None
    note: str | None = None  # shown with the step, e.g. that the model wrote the call as text


def result_text(step: ToolStep) -> str:
    """The step's outcome as a tool message's content (what the model reads next)."""
    if step.error is not None:
        return error_text(step.error)
    return json.dumps(step.result, separators=(",", ":"), default=str)


def error_text(error: str) -> str:
    return f"{ERROR_PREFIX}{error}"


def steps_from_history(messages: list[MessageOut]) -> dict[str, ToolStep]:
    """Tool steps of stored messages, by tool_call_id."""
    steps: dict[str, ToolStep] = {}
    for message in messages:
        for call in message.tool_calls or []:
            function = call.get("function", {})
            try:
                arguments = json.loads(function.get("arguments") or "{}")
            except json.JSONDecodeError:
                arguments = {}
            steps[call.get("id", "")] = ToolStep(function.get("name", "?"), arguments)
        if message.role == "tool" and message.tool_call_id in steps:
            step = steps[message.tool_call_id]
            if message.content.startswith(ERROR_PREFIX):
                step.error = message.content.removeprefix(ERROR_PREFIX)
            else:
                try:
                    step.result = json.loads(message.content)
                except json.JSONDecodeError:
                    step.result = {"text": message.content}
    return steps
