"""One chat turn: store the user's message, let the model call the task tools (or the offline assistant answer),
then store the reply and its tool steps. Yields events the page draws as they happen.

The model sees exactly the tools the MCP server marks for it, minus `idempotency_key`, which the agent fills in
itself, and the optional arguments settings.model_hidden_arguments names (measured to help a small model). No tool
takes a user: the server knows whom the turn is for from the client's credential, so the model never chooses whose
data it touches.
"""

import copy
import datetime as dt
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from mcp.types import Tool
from openai import OpenAI

from app.client import REQUEST_ID, ServiceUnavailable, TodoClient, ToolError
from app.offline import run_offline
from app.settings import UISettings
from app.steps import ToolStep, error_text, result_text
from contract.schemas import MessageIn, MessageOut
from contract.tools import ADD_TASK, FOR_MODEL_META, LIST_TASKS

log = logging.getLogger(__name__)

INJECTED_ARGUMENTS = ("idempotency_key",)


@dataclass
class TextDelta:
    text: str


@dataclass
class StepStarted:
    name: str
    arguments: dict[str, Any]
    note: str | None = None  # said with the step: e.g. that the model wrote the call as text


@dataclass
class StepFinished:
    step: ToolStep


@dataclass
class Notice:
    """Something the user should know about this turn (the model failed, a cap was hit)."""

    text: str


Event = TextDelta | StepStarted | StepFinished | Notice


class ModelFailure(Exception):
    """The model could not be used for this turn; the message is fit to show the user."""


def model_tools(
    tools: list[Tool], *, hidden: frozenset[str] = frozenset(), argument_descriptions: bool = True
) -> list[dict[str, Any]]:
    """The server's task tools in the OpenAI function format, without the arguments the agent injects, nor the
    optional ones named in `hidden` ("tool.argument"); without the arguments' descriptions if so set."""
    offered = []
    for tool in tools:
        if not (tool.meta or {}).get(FOR_MODEL_META):
            continue
        schema = copy.deepcopy(tool.input_schema)
        properties = schema.get("properties", {})
        required = schema.get("required", [])
        for name in list(properties):
            if name in INJECTED_ARGUMENTS or (f"{tool.name}.{name}" in hidden and name not in required):
                del properties[name]
            elif not argument_descriptions:
                properties[name].pop("description", None)
        schema["required"] = [name for name in required if name in properties]
        offered.append(
            {
                "type": "function",
                "function": {"name": tool.name, "description": tool.description or tool.name, "parameters": schema},
            }
        )
    return offered


def openai_history(messages: list[MessageOut]) -> list[dict[str, Any]]:
    """Stored messages as chat messages, from the first user message on. A tool call without its result (or a
    result without its call), as a failure can leave behind, is left out: providers refuse such a history."""
    start = next((i for i, m in enumerate(messages) if m.role == "user"), len(messages))
    kept = messages[start:]
    answered = {m.tool_call_id for m in kept if m.role == "tool"}
    called: set[str] = set()
    history: list[dict[str, Any]] = []
    for message in kept:
        entry: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.role == "tool":
            if message.tool_call_id not in called:
                continue
            entry["tool_call_id"] = message.tool_call_id
        elif message.tool_calls:
            calls = [call for call in message.tool_calls if call.get("id") in answered]
            called.update(call["id"] for call in calls)
            if calls:
                entry["tool_calls"] = calls
            elif not message.content:
                continue
        history.append(entry)
    return history


def describe_failure(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    if status == 429:
        return "the model service is rate-limiting requests (429)"
    if isinstance(status, int):
        return f"the model service answered with an error ({status})"
    name = type(exc).__name__
    if "Timeout" in name:
        return "the model did not answer in time"
    if "Connection" in name:
        cause = type(exc.__cause__).__name__
        if "Protocol" in cause or "Read" in cause:
            return "the model's answer was cut off"
        return "the model service could not be reached"
    return f"the model's answer could not be read ({name})"


@dataclass
class Turn:
    """What one turn produced, stored after the model is done (user message is stored before)."""

    conversation_id: uuid.UUID
    number: int  # the user's message's position in the conversation: names this turn's writes
    messages: list[MessageIn] = field(default_factory=list)
    steps: int = 0

    def key(self, call: str) -> str:
        """An idempotency key for one write of this turn: a retry of the call finds the first result."""
        return hashlib.sha256(f"{self.conversation_id}:{self.number}:{call}".encode()).hexdigest()[:40]


class TurnInterrupted(Exception):
    """The task service failed after the user's message was stored: it is in the conversation, not lost."""


class KeyedTools:
    """The offline assistant's tool calls through the turn's client, with an idempotency key on each add_task."""

    def __init__(self, client: TodoClient, turn: Turn):
        self.client, self.turn, self.adds = client, turn, 0

    def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        if name == ADD_TASK:
            self.adds += 1
            arguments = {**arguments, "idempotency_key": self.turn.key(f"offline-add-{self.adds}")}
        return self.client.call_tool(name, arguments)


class Agent:
    def __init__(self, settings: UISettings, llm: OpenAI | None = None):
        self.settings = settings
        self.llm = llm
        self._tools: list[dict[str, Any]] | None = None

    @classmethod
    def from_settings(cls, settings: UISettings) -> "Agent":
        llm = None
        if settings.model_configured:
            assert settings.openai_api_key is not None
            llm = OpenAI(
                api_key=settings.openai_api_key.get_secret_value(),
                base_url=settings.openai_base_url or None,
                timeout=settings.model_timeout,
                max_retries=settings.model_retries,
            )
        return cls(settings, llm)

    def tools(self, client: TodoClient) -> list[dict[str, Any]]:
        """The model's tools; what the server offers the model is the same for every caller, so read once."""
        if self._tools is None:
            self._tools = model_tools(
                client.list_tools(),
                hidden=self.settings.model_hidden_arguments,
                argument_descriptions=self.settings.model_argument_descriptions,
            )
        return self._tools

    def run_turn(
        self, client: TodoClient, conversation_id: uuid.UUID, text: str, today: dt.date | None = None
    ) -> Iterator[Event]:
        """Answer one message as `client`'s caller. Raises ToolError/ServiceUnavailable before anything else if
        the message cannot be stored: then nothing happened and the page keeps the text."""
        today = today or dt.date.today()
        REQUEST_ID.set(uuid.uuid4().hex)
        # Keyed, so a retry after a lost answer cannot store the message twice; the same call reads the history.
        stored = client.append_messages(
            conversation_id,
            [MessageIn(role="user", content=text)],
            idempotency_key=uuid.uuid4().hex,
            recent=self.settings.history_messages if self.llm is not None else 0,
        )
        turn = Turn(conversation_id, stored.total_messages)
        try:
            if self.llm is None:
                yield from self._offline(client, text, today, turn, reason=None)
                return
            try:
                yield from self._model(client, stored.messages, today, turn)
            except ModelFailure as failure:
                log.warning("model failed: %s", failure)
                if turn.steps:
                    notice = f"The model stopped answering ({failure}); the steps above were done."
                    turn.messages.append(MessageIn(role="assistant", content=notice))
                    yield Notice(notice)
                else:
                    yield from self._offline(client, text, today, turn, reason=str(failure))
        except (ServiceUnavailable, ToolError) as exc:
            raise TurnInterrupted(str(exc)) from exc
        finally:
            answer_unanswered_calls(turn.messages)
            if turn.messages:
                try:
                    client.append_messages(conversation_id, turn.messages, idempotency_key=turn.key("reply"))
                except (ServiceUnavailable, ToolError):
                    log.warning("the reply of a turn could not be stored (%d messages)", len(turn.messages))

    def _offline(
        self, client: TodoClient, text: str, today: dt.date, turn: Turn, reason: str | None
    ) -> Iterator[Event]:
        if reason is not None:
            yield Notice(f"The model is unavailable ({reason}); the offline assistant answered instead.")
        reply = run_offline(text, KeyedTools(client, turn), today, fallback_reason=reason)
        turn_id = uuid.uuid4().hex[:8]  # call ids must be unique in the conversation, not just in the turn
        for index, step in enumerate(reply.steps, start=1):
            call_id = f"offline-{turn_id}-{index}"
            call = {
                "id": call_id,
                "type": "function",
                "function": {"name": step.name, "arguments": json.dumps(step.arguments)},
            }
            turn.messages.append(MessageIn(role="assistant", content="", tool_calls=[call]))  # type: ignore[list-item]
            turn.messages.append(MessageIn(role="tool", tool_call_id=call_id, content=result_text(step)))
            turn.steps += 1
            yield StepStarted(step.name, step.arguments)
            yield StepFinished(step)
        turn.messages.append(MessageIn(role="assistant", content=reply.text))
        yield TextDelta(reply.text)

    def _model(self, client: TodoClient, stored: list[MessageOut], today: dt.date, turn: Turn) -> Iterator[Event]:
        assert self.llm is not None
        prompt = self.settings.system_prompt.format(today=today.isoformat(), weekday=today.strftime("%A"))
        messages: list[dict[str, Any]] = [{"role": "system", "content": prompt}, *openai_history(stored)]
        tools = self.tools(client)
        offered = {tool["function"]["name"] for tool in tools}
        schemas = {tool["function"]["name"]: tool["function"]["parameters"] for tool in tools}
        request_options: dict[str, Any] = {} if self.settings.model_seed is None else {"seed": self.settings.model_seed}
        for round_number in range(self.settings.max_tool_steps):
            text_parts: list[str] = []
            held: list[str] = []  # text held back while it may still turn out to be a tool call written as text
            holding = self.settings.read_calls_from_text
            calls: dict[int, dict[str, Any]] = {}
            note: str | None = None
            try:
                stream = self.llm.chat.completions.create(
                    model=self.settings.openai_model,
                    messages=[],
                    temperature=self.settings.temperature,
                    max_tokens=self.settings.max_reply_tokens,
                    stream=True,
                    # The history and the tools are plain JSON already. Sent as extra_body (which replaces the
                    # empty list above), they skip the SDK's walk of every message against its TypedDicts: 4.9 ms
                    # of the UI's CPU per request with a 40-message history (docs/performance.md).
                    extra_body={"messages": messages, "tools": tools, **request_options, **self._choice(round_number)},
                )
                for chunk in stream:
                    if not chunk.choices:
                        continue
                    delta = chunk.choices[0].delta
                    if delta.content:
                        text_parts.append(delta.content)
                        holding = holding and may_be_a_call("".join(text_parts))
                        if holding:
                            held.append(delta.content)
                        else:
                            yield TextDelta("".join(held) + delta.content)
                            held = []
                    for part in delta.tool_calls or []:
                        call = calls.setdefault(part.index, {"id": "", "name": "", "arguments": ""})
                        if part.id:
                            call["id"] = part.id
                        if part.function and part.function.name:
                            call["name"] += part.function.name
                        if part.function and part.function.arguments:
                            call["arguments"] += part.function.arguments
            except Exception as exc:  # the SDK, httpx and json raise many types; all mean "no usable answer"
                raise ModelFailure(describe_failure(exc)) from exc
            text = "".join(text_parts)
            if held:
                written = None if calls else call_written_as_text(text, schemas)
                if written is None:  # text after all (or text beside real tool calls): shown as it came
                    yield TextDelta("".join(held))
                else:
                    calls = {0: written}
                    note = "The model wrote this call as text; it was read as a tool call."
                    text = ""
            if not calls:
                turn.messages.append(MessageIn(role="assistant", content=text))
                return
            parsed = [parse_call(call, offered) for call in calls.values()]
            tool_calls = [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
                for call_id, name, arguments in parsed
            ]
            assistant = {"role": "assistant", "content": text, "tool_calls": tool_calls}
            messages.append(assistant)
            turn.messages.append(MessageIn.model_validate(assistant))
            for call_id, name, arguments in parsed:
                yield StepStarted(name, arguments, note)
                step = self._tool_step(client, turn.key(f"{round_number}:{call_id}"), name, arguments)
                step.note = note
                turn.steps += 1
                content = result_text(step)  # recorded before the page draws it: the page may stop the turn there
                messages.append({"role": "tool", "tool_call_id": call_id, "content": content})
                turn.messages.append(MessageIn(role="tool", tool_call_id=call_id, content=content))
                yield StepFinished(step)
        notice = f"I stopped after {self.settings.max_tool_steps} rounds of tool calls; ask again to go on."
        turn.messages.append(MessageIn(role="assistant", content=notice))
        yield Notice(notice)

    def _choice(self, round_number: int) -> dict[str, str]:
        """tool_choice for this round: the setting's on a turn's first round (a small model then calls a tool
        rather than writing one as text); the provider's default ("auto") after, so the model can answer."""
        choice = self.settings.model_tool_choice
        return {"tool_choice": choice} if choice is not None and round_number == 0 else {}

    def _tool_step(self, client: TodoClient, key: str, name: str, arguments: dict[str, Any]) -> ToolStep:
        sent = {**arguments, "idempotency_key": key} if name == ADD_TASK else arguments
        try:
            return ToolStep(name, arguments, result=client.call_tool(name, sent))
        except ToolError as error:
            return ToolStep(name, arguments, error=str(error))
        except ServiceUnavailable:
            # Every call in the history must have its result: the model (and the next turn's) needs one.
            unknown = (
                f"The task service did not answer, so whether {name} was done is unknown; check with {LIST_TASKS}."
            )
            return ToolStep(name, arguments, error=unknown)


def answer_unanswered_calls(messages: list[MessageIn]) -> None:
    """A turn stopped between a tool call and its result (the page reran) still stores a result for each call."""
    answered = {m.tool_call_id for m in messages if m.role == "tool"}
    for message in list(messages):
        for call in message.tool_calls or []:
            if call.id not in answered:
                messages.append(
                    MessageIn(role="tool", tool_call_id=call.id, content=error_text("the turn was interrupted"))
                )


def may_be_a_call(text: str) -> bool:
    """Whether text streamed so far could still be a tool call written as text (a JSON object, or a fenced block)."""
    start = text.lstrip()
    return not start or start.startswith(("{", "`", "<"))


FENCED = re.compile(r"^```[a-zA-Z]*\s*\n?(?P<body>.*?)\n?```$", re.DOTALL)
WRAPPED = re.compile(r"^<(?P<tag>tool_call|tools)>\s*(?P<body>.*?)\s*</(?P=tag)>$", re.DOTALL)
# <function name="list_tasks" arguments='{"status": "open"}'/>, as small models write a call in markup
MARKUP = re.compile(r"""^<function\s+name="(?P<name>[\w-]+)"\s+arguments='(?P<arguments>.*)'\s*/>$""", re.DOTALL)


def call_written_as_text(text: str, schemas: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """A tool call a model wrote as its answer instead of as a call (small local models do): the answer is one call
    and nothing else: a JSON object naming an offered tool ("name") with its "arguments" (or "parameters"), alone,
    in one fenced block, in <tool_call> tags or in extra braces ({{...}}, {{...}}}}), or a <function name=...
    arguments=.../> tag. The arguments must be valid for that tool's schema (a null is taken as not given). In the streamed-call shape
    parse_call reads; None for any other text."""
    body = text.strip()
    if (fenced := FENCED.match(body)) is not None:
        body = fenced["body"].strip()
    if (wrapped := WRAPPED.match(body)) is not None:
        body = wrapped["body"].strip()
    if (markup := MARKUP.match(body)) is not None:
        body = json.dumps({"name": markup["name"], "arguments": markup["arguments"]})
    call = _braced_object(body)
    if call is None or set(call) - {"name", "arguments", "parameters"}:
        return None
    name, arguments = call.get("name"), call.get("arguments", call.get("parameters", {}))
    if isinstance(arguments, str):
        arguments = _json_object(arguments)
    if not isinstance(name, str) or name not in schemas or not isinstance(arguments, dict):
        return None
    arguments = {key: value for key, value in arguments.items() if value is not None}
    if next(jsonschema.Draft202012Validator(schemas[name]).iter_errors(arguments), None) is not None:
        return None
    return {"id": f"text-{uuid.uuid4().hex[:12]}", "name": name, "arguments": json.dumps(arguments)}


def _braced_object(text: str) -> dict[str, Any] | None:
    """One JSON object, also inside the extra braces small models write around one: {{...}} or {{...}}}}."""
    body = "{" + text.lstrip("{")
    try:
        value, end = json.JSONDecoder().raw_decode(body)
    except ValueError:
        return None
    if not isinstance(value, dict) or not set(body[end:]) <= set("} \t\n"):
        return None
    return value


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def parse_call(call: dict[str, Any], offered: set[str]) -> tuple[str, str, dict[str, Any]]:
    """(id, name, arguments) of a streamed tool call; an unknown tool or unreadable arguments fail the model."""
    if call["name"] not in offered:
        raise ModelFailure(f"the model asked for a tool that does not exist ({call['name'][:40]!r})")
    try:
        arguments = json.loads(call["arguments"] or "{}")
    except json.JSONDecodeError as exc:
        raise ModelFailure(f"the model sent unreadable arguments for {call['name']}") from exc
    if not isinstance(arguments, dict):
        raise ModelFailure(f"the model sent unreadable arguments for {call['name']}")
    for injected in INJECTED_ARGUMENTS:
        arguments.pop(injected, None)
    # A provider that sends no id still needs a unique one: it keys the tool result and add_task's idempotency key.
    return call["id"] or f"call-{uuid.uuid4().hex[:12]}", call["name"], arguments
