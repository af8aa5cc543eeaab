"""A reference model of every tool's arguments, written from the README's contract (not imported from
mcp_server/schemas.py): for any arguments, which fields must be refused, which are fine and what they
normalise to (titles stripped, tags lowercased without '#', deduplicated, ...), and which the model does not
predict (lenient coercions such as "3" for 3, where either answer is acceptable as long as it is clean).

Text is text: a title of 'null' or '[1, 2]' is that title (the SDK decodes JSON-looking strings for parameters
not typed exactly `str`; the server turns that off for its text parameters since a13a3a3).

Dates are YYYY-MM-DD or a phrase ("friday", "in 3 days"), resolved from the caller's today: which phrases and which
day each names is contract.dates' grammar (pinned on its own by tests/contract/test_dates.py), read here as the
reference; no call here sends X-Todo-Timezone, so today is UTC's.

No tool takes a user: the caller is the credential's (e1c1306). With the page's service token the user is the
X-Todo-User header, read as `header_user()` says; a `user_id` argument is an unknown argument like any other.
"""

import base64
import binascii
import dataclasses
import datetime as dt
import json
import math
import re
import unicodedata
import uuid
from collections.abc import Callable
from typing import Any

from contract.dates import resolve_date


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


MISSING: Any = _Missing()  # the argument was not sent
UNKNOWN: Any = _Unknown()  # accepted or not, the model does not predict the value it becomes


class Bad(Exception):
    """The value must be refused."""


@dataclasses.dataclass
class Maybe(Exception):
    """Either answer is fine; if accepted, the value becomes `value` (or something unpredicted: UNKNOWN)."""

    value: Any = UNKNOWN


# Strings

# What pydantic's strip_whitespace trims: Unicode White_Space (Python's isspace() minus U+001C..U+001F).
TRIMMED = "".join(chr(c) for c in range(0x110000) if chr(c).isspace() and not 0x1C <= c <= 0x1F)


# Where a line may end: str.splitlines()' breaks, the Unicode line and paragraph separators included.
LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"


def has_control(text: str) -> bool:
    """Control characters other than tab, newline and carriage return (which Postgres or a title cannot hold)."""
    return any(unicodedata.category(char) == "Cc" and char not in "\t\n\r" for char in text)


def text(value: Any, *, strip: bool, low: int, high: int, single_line: bool = False) -> str:
    if not isinstance(value, str):
        raise Bad
    if strip:
        value = value.strip(TRIMMED)
    if not low <= len(value) <= high or has_control(value):
        raise Bad
    if single_line and any(char in LINE_BREAKS for char in value):
        raise Bad
    return value


# The X-Todo-User header


HEADER_ENCODED = re.compile(r"=\?base64\?(?P<payload>.*)\?=")


def header_text(raw: str) -> str | None:
    """What the server reads from an X-Todo-User header sent as exactly these characters: HTTP drops spaces and tabs
    around a field value; a value in the `=?base64?...?=` form (how MCP clients send text that is not plain
    printable ASCII) stands for the UTF-8 text it encodes, and for nothing (None) when that is not canonical base64
    of UTF-8."""
    raw = raw.strip(" \t")
    if m := HEADER_ENCODED.fullmatch(raw):
        try:
            decoded = base64.b64decode(m["payload"], validate=True)
        except binascii.Error:
            return None
        if base64.b64encode(decoded).decode("ascii") != m["payload"]:
            return None
        try:
            return decoded.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return raw


def header_user(value: str | None) -> str:
    """The user an X-Todo-User header's text names: one printable line of 1-320 characters, surrounding white space
    dropped. Raises Bad for no header, or one that names no user (empty, white space only, longer than 320,
    control characters, more than one line); Maybe when the only doubt is whether U+001C..U+001F at its edges
    count as white space (Python's str.strip() says yes; they are control characters)."""
    if value is None:
        raise Bad
    if names_a_user(user := value.strip(TRIMMED)):
        return user
    if names_a_user(value.strip()):
        raise Maybe(value.strip())
    raise Bad


def names_a_user(user: str) -> bool:
    return 1 <= len(user) <= 320 and not has_control(user) and not any(char in LINE_BREAKS for char in user)


def title(value: Any) -> str:
    return text(value, strip=True, low=1, high=200, single_line=True)


def description(value: Any) -> str:
    return text(value, strip=False, low=0, high=2000)


def search(value: Any) -> str:
    return text(value, strip=True, low=1, high=200)


def conversation_title(value: Any) -> str:
    """Checked like a task title (one line, no control characters) but may be empty; stored as title_from()."""
    return title_from(text(value, strip=True, low=0, high=200, single_line=True))


def title_from(value: str) -> str:
    """The README: a conversation's title is its text on one line, at most 80 characters ('…' when cut)."""
    line = " ".join(value.split())
    return line if len(line) <= 80 else line[:79].rstrip() + "…"


def new_conversation_title(value: Any) -> str:
    """rename_conversation's title: checked like create_conversation's, but not empty; stored as title_from()."""
    return title_from(text(value, strip=True, low=1, high=200, single_line=True))


def conversation_query(value: Any) -> str:
    """search_conversations' query: 1-200 characters once stripped, no control characters; any text at all
    (tsquery and SQL syntax are words like others)."""
    return text(value, strip=True, low=1, high=200)


IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def idempotency_key(value: Any) -> str:
    if not isinstance(value, str) or not IDEMPOTENCY_KEY.fullmatch(value):
        raise Bad
    return value


def tag(value: Any) -> str:
    """One tag: one word of at most 32 characters (once lowercased: 'İ' becomes two), stored lowercased,
    without '#', surrounding spaces dropped."""
    if not isinstance(value, str) or not 1 <= len(value) <= 32 or has_control(value):
        raise Bad
    normalised = value.strip().lstrip("#").lower()
    if not normalised or any(char.isspace() for char in normalised) or len(normalised) > 32:
        raise Bad
    return normalised


def tags(value: Any) -> list[str]:
    if isinstance(value, str):
        raise Maybe()  # the SDK decodes a JSON list sent as a string
    if not isinstance(value, list) or len(value) > 10:
        raise Bad
    return list(dict.fromkeys(tag(item) for item in value))


def choice(*options: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in options:
            raise Bad
        return value

    return check


priority = choice("low", "medium", "high")
status = choice("open", "done", "all")
sort = choice("created", "due", "priority")


def integer(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool):
            raise Bad  # true/false are not numbers
        if isinstance(value, int):
            if not low <= value <= high:
                raise Bad
            return value
        if isinstance(value, float):
            if not value.is_integer() or not low <= value <= high:
                raise Bad
            raise Maybe(int(value))  # 3.0 for 3: lenient, either answer is fine
        if isinstance(value, str):
            raise Maybe()
        raise Bad

    return check


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        raise Maybe(bool(value))
    if isinstance(value, str):
        raise Maybe()
    raise Bad


def date(value: Any) -> dt.date:
    """Text of 1-40 characters on one line (surrounding spaces dropped) that names a day: the day it is."""
    day = resolve_date(text(value, strip=True, low=1, high=40, single_line=True), dt.datetime.now(dt.UTC).date())
    if day is None:
        raise Bad
    return day


CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def conversation_id(value: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise Bad
    if CANONICAL_UUID.fullmatch(value):
        return uuid.UUID(value)
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise Bad from None
    raise Maybe(parsed)  # braces, urn:uuid:, no dashes: lenient parsing is fine


def _contains(value: Any, needle: Callable[[Any], bool]) -> bool:
    if needle(value):
        return True
    if isinstance(value, dict):
        return any(_contains(k, needle) or _contains(v, needle) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains(item, needle) for item in value)
    return False


def _jsonb_unsafe(value: Any) -> bool:
    """What Postgres jsonb cannot hold: NUL in any string or key, NaN and infinities."""
    return _contains(
        value, lambda v: (isinstance(v, str) and "\x00" in v) or (isinstance(v, float) and not math.isfinite(v))
    )


def call_id(value: Any) -> str:
    return text(value, strip=False, low=1, high=128)


def json_length(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def tool_call(value: Any) -> dict[str, Any]:
    """A tool call in the OpenAI format, extra keys kept; at most 32 000 characters as compact JSON."""
    if not isinstance(value, dict):
        raise Bad
    call_id(value.get("id", MISSING))
    if value.get("type", "function") != "function" or not isinstance(value.get("function"), dict):
        raise Bad
    if _jsonb_unsafe(value) or json_length({**value, "type": "function"}) > 32_000:
        raise Bad
    return {**value, "type": "function"}


def message(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not set(value) <= {"role", "content", "tool_calls", "tool_call_id"}:
        raise Bad
    role = choice("user", "assistant", "tool")(value.get("role", MISSING))
    content = text(value.get("content", ""), strip=False, low=0, high=32_000)
    calls = value.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list) or len(calls) > 64:
            raise Bad
        calls = [tool_call(call) for call in calls]
    answers = value.get("tool_call_id")
    if answers is not None:
        answers = call_id(answers)
    return {"role": role, "content": content, "tool_calls": calls or None, "tool_call_id": answers}


def messages(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        raise Maybe()  # the SDK decodes a JSON list sent as a string
    if not isinstance(value, list) or not 1 <= len(value) <= 100:
        raise Bad
    batch = [message(item) for item in value]
    # What fits one request: contents and tool calls together at most 100 x 32 000 characters.
    size = sum(len(m["content"]) + sum(json_length(call) for call in m["tool_calls"] or []) for m in batch)
    if size > 3_200_000:
        raise Bad
    return batch


# The tools


@dataclasses.dataclass(frozen=True)
class Param:
    check: Callable[[Any], Any]
    default: Any = MISSING  # MISSING: required
    nullable: bool = False  # null means "not given" (the default)


TASK_ID = Param(integer(1, 2_147_483_647))
TOOLS: dict[str, dict[str, Param]] = {
    "add_task": {
        "title": Param(title),
        "description": Param(description, ""),
        "priority": Param(priority, "medium"),
        "due_date": Param(date, None, nullable=True),
        "tags": Param(tags, []),
        "idempotency_key": Param(idempotency_key, None, nullable=True),
    },
    "list_tasks": {
        "status": Param(status, "open"),
        "priority": Param(priority, None, nullable=True),
        "tag": Param(tag, None, nullable=True),
        "due_before": Param(date, None, nullable=True),
        "overdue": Param(boolean, False),
        "search": Param(search, None, nullable=True),
        "sort": Param(sort, "created"),
        "limit": Param(integer(1, 200), 50),
        "offset": Param(integer(0, 1_000_000), 0),
    },
    "complete_task": {"task_id": TASK_ID},
    "reopen_task": {"task_id": TASK_ID},
    "update_task": {
        "task_id": TASK_ID,
        "title": Param(title, None, nullable=True),
        "description": Param(description, None, nullable=True),
        "priority": Param(priority, None, nullable=True),
        "due_date": Param(date, None, nullable=True),
        "clear_due_date": Param(boolean, False),
        "tags": Param(tags, None, nullable=True),
    },
    "delete_task": {"task_id": TASK_ID},
    "create_conversation": {"title": Param(conversation_title, "")},
    "list_conversations": {
        "limit": Param(integer(1, 200), 20),
        "offset": Param(integer(0, 1_000_000), 0),
    },
    "get_conversation": {
        "conversation_id": Param(conversation_id),
        "limit": Param(integer(1, 10_000), None, nullable=True),
    },
    "append_messages": {
        "conversation_id": Param(conversation_id),
        "messages": Param(messages),
        "idempotency_key": Param(idempotency_key, None, nullable=True),
        "recent": Param(integer(0, 200), 0),
    },
    "rename_conversation": {
        "conversation_id": Param(conversation_id),
        "title": Param(new_conversation_title),
    },
    "search_conversations": {
        "query": Param(conversation_query),
        "limit": Param(integer(1, 200), 20),
    },
    "delete_conversation": {"conversation_id": Param(conversation_id)},
}


def shown_name(name: str) -> str:
    """How a refusal quotes an unknown argument's name: at most 40 characters ('…' when cut), as a Python literal
    (quotes and control characters escaped). (A name with a lone surrogate is never quoted: see judge().)"""
    name = name.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return repr(name if len(name) <= 40 else name[:39] + "…")


@dataclasses.dataclass
class Verdict:
    """What the reference model expects of one call."""

    values: dict[str, Any]  # every parameter's value after normalisation (UNKNOWN where not predicted)
    bad: set[str]  # must be refused, naming these (unknown arguments as shown_name() quotes them)
    maybe: set[str]  # the model does not predict acceptance
    extra: set[str]  # unknown argument names sent

    @property
    def must_accept(self) -> bool:
        return not (self.bad or self.maybe)


def _lone_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(char) <= 0xDFFF for char in text)


def judge(tool: str, arguments: dict[str, Any]) -> Verdict:
    params = TOOLS[tool]
    verdict = Verdict(values={}, bad=set(), maybe=set(), extra=set(arguments) - set(params))
    for name, param in params.items():
        raw = arguments.get(name, MISSING)
        if raw is MISSING or (raw is None and param.nullable):
            if param.default is MISSING:
                verdict.bad.add(name)
            verdict.values[name] = param.default
            continue
        try:
            verdict.values[name] = param.check(raw)
        except Bad:
            if raw == "null" and param.nullable:
                # The SDK decodes the text 'null' to null ("not given") for parameters that are not text: a finding
                # (test_regressions.py, strict xfail) until the server refuses it; either answer passes here.
                verdict.maybe.add(name)
                verdict.values[name] = param.default
                continue
            verdict.bad.add(name)
            verdict.values[name] = UNKNOWN
        except Maybe as exc:
            verdict.maybe.add(name)
            verdict.values[name] = exc.value
    # Unknown arguments are refused, each named (as shown_name() quotes it) alongside any other wrong field.
    verdict.bad |= {shown_name(name) for name in verdict.extra}
    if any(_lone_surrogate(name) for name in verdict.extra):
        # A lone surrogate cannot be UTF-8: the app's client sends it as the JSON escape \ud800 (since 07b4636; it
        # used to send U+FFFD), and the server cannot read the arguments as text at all. The refusal names
        # `arguments`, and may name nothing else.
        verdict.maybe |= verdict.bad
        verdict.bad = {"arguments"}
    if tool == "update_task" and not verdict.bad:
        clear, due = verdict.values["clear_due_date"], verdict.values["due_date"]
        if clear is UNKNOWN or (clear and due is UNKNOWN):
            verdict.maybe.add("clear_due_date")
    return verdict
