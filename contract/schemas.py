"""The tools' argument types and results: the one source of truth for the schemas clients and models see.

The server's tool functions take these types (their JSON Schema is what tools/list publishes); clients read
results back into these models."""

import datetime as dt
import json
import typing
import unicodedata
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    model_validator,
)

from contract.dates import DATE_FORMS, resolve_date
from contract.limits import (
    BATCH_LENGTH,
    CALL_ID_LENGTH,
    DATE_TEXT_LENGTH,
    DESCRIPTION_LENGTH,
    IDEMPOTENCY_KEY_LENGTH,
    MESSAGE_LENGTH,
    MESSAGES_PER_BATCH,
    PAGE_SIZE_MAX,
    SEARCH_LENGTH,
    TAG_LENGTH,
    TAGS_PER_TASK,
    TASK_NUMBER_MAX,
    TITLE_LENGTH,
    TOKEN_DAYS_MAX,
    TOKEN_NAME_LENGTH,
    TOOL_CALLS_PER_MESSAGE,
    USER_ID_LENGTH,
)

Priority = Literal["low", "medium", "high"]
PRIORITIES: tuple[Priority, ...] = typing.get_args(Priority)
Status = Literal["open", "done", "all"]
SortKey = Literal["created", "due", "priority"]
Role = Literal["user", "assistant", "tool"]


def _printable(value: str) -> str:
    """Refuse NUL and other control characters (Postgres text cannot hold NUL); tabs and newlines are fine."""
    for char in value:
        if char in "\t\n\r":
            continue
        if unicodedata.category(char) == "Cc":
            raise ValueError(f"must not contain control characters (found U+{ord(char):04X})")
    return value


# Every character str.splitlines() breaks a line at: a viewer may start a new line at any of them.
LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def _single_line(value: str) -> str:
    if any(char in LINE_BREAKS for char in value):
        raise ValueError("must be a single line")
    return value


def _tag(value: str) -> str:
    tag = value.strip().lstrip("#").lower()
    if not tag:
        raise ValueError("tags must not be empty")
    if any(char.isspace() for char in tag):
        raise ValueError("each tag must be one word (no spaces)")
    if len(tag) > TAG_LENGTH:  # lowercasing can lengthen a word ('İ' becomes 'i' and a combining dot)
        raise ValueError(f"each tag must be at most {TAG_LENGTH} characters")
    return tag


def _not_bool(value: object) -> object:
    """JSON true/false are not numbers here (pydantic would take them as 1 and 0)."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


def _json_safe(value: Any) -> Any:
    """What jsonb can store: no NaN or Infinity, no NUL anywhere (keys included)."""
    try:
        text = json.dumps(value, allow_nan=False)
    except ValueError as exc:
        raise ValueError("must not contain NaN or Infinity") from exc
    if "\\u0000" in text:
        raise ValueError("must not contain NUL characters")
    return value


def _a_date(text: str) -> str:
    """A phrase of one of the date forms. Which day it names depends on the caller's today, so the tool resolves it
    (contract.dates.resolve_date with the caller's today); whether it names a day at all does not."""
    if resolve_date(text, dt.date.today()) is None:
        raise ValueError(f"not a date: use {DATE_FORMS}")
    return text


def _unique_tags(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


def _new_title(value: str) -> str:
    if not value:
        raise ValueError(f"must not be empty: send the conversation's new title (1-{TITLE_LENGTH} characters)")
    return value


def _words(value: str) -> str:
    if not value:
        raise ValueError("must not be empty: send one or more words to look for")
    return value


Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_LENGTH),
    AfterValidator(_printable),
    AfterValidator(_single_line),
    Field(description=f"Short title of the task, 1-{TITLE_LENGTH} characters."),
]
Description = Annotated[
    str,
    StringConstraints(max_length=DESCRIPTION_LENGTH),
    AfterValidator(_printable),
    Field(description=f"Longer notes, up to {DESCRIPTION_LENGTH} characters."),
]
Tag = Annotated[
    str, StringConstraints(min_length=1, max_length=TAG_LENGTH), AfterValidator(_printable), AfterValidator(_tag)
]
Tags = Annotated[
    list[Tag],
    Field(
        max_length=TAGS_PER_TASK,
        description=f"Up to {TAGS_PER_TASK} one-word tags of at most {TAG_LENGTH} characters, without '#'.",
    ),
    AfterValidator(_unique_tags),
]
# Goes after an integer's bounds: placed before them, pydantic cannot attach the bounds to the integer schema and
# publishes them as "ge"/"le", which JSON Schema (and so a client or a model) does not know, not minimum/maximum.
NotBool = BeforeValidator(_not_bool)
TaskNumber = Annotated[
    int,
    Field(ge=1, le=TASK_NUMBER_MAX, description="The task's number as the user sees it (e.g. 3 for 'task 3')."),
    NotBool,
]
ConversationTitle = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=TITLE_LENGTH),
    AfterValidator(_printable),
    AfterValidator(_single_line),
    Field(description="Optional; set from the first user message when empty."),
]
NewConversationTitle = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=TITLE_LENGTH),
    AfterValidator(_new_title),
    AfterValidator(_printable),
    AfterValidator(_single_line),
    Field(
        description=f"The new title, 1-{TITLE_LENGTH} characters on one line.",
        json_schema_extra={"minLength": 1},  # published; refused by _new_title with a sentence that says what to send
    ),
]
ConversationQuery = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=SEARCH_LENGTH),
    AfterValidator(_words),
    AfterValidator(_printable),
    Field(
        description="Words to find in the conversations' titles and messages; the last word may be the start of one "
        "('repo' finds 'report').",
        json_schema_extra={"minLength": 1},
    ),
]
CallId = Annotated[str, StringConstraints(min_length=1, max_length=CALL_ID_LENGTH), AfterValidator(_printable)]
DateText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=DATE_TEXT_LENGTH),
    AfterValidator(_printable),
    AfterValidator(_single_line),
    AfterValidator(_a_date),
    Field(description=f"A date: {DATE_FORMS}. The server reads phrases in the user's time zone."),
]
ConversationId = Annotated[uuid.UUID, Field(description="The conversation's id (a UUID).")]
IdempotencyKey = Annotated[
    str,
    StringConstraints(min_length=1, max_length=IDEMPOTENCY_KEY_LENGTH, pattern=r"^[A-Za-z0-9._:-]+$"),
    Field(description="Optional client key: retrying a call with the same key returns the first result."),
]
SearchText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=SEARCH_LENGTH), AfterValidator(_printable)
]
MessageContent = Annotated[str, StringConstraints(max_length=MESSAGE_LENGTH), AfterValidator(_printable)]
Limit = Annotated[int, Field(ge=1, le=PAGE_SIZE_MAX, description="At most this many items."), NotBool]
Offset = Annotated[int, Field(ge=0, le=1_000_000, description="Skip this many items first."), NotBool]
MessageLimit = Annotated[int, Field(ge=1, le=10_000), NotBool]
Recent = Annotated[
    int,
    Field(
        ge=0,
        le=PAGE_SIZE_MAX,
        description=f"Also return the last N messages of the conversation, after this append (0-{PAGE_SIZE_MAX})",
    ),
    NotBool,
]


def json_length(value: Any) -> int:
    """Characters in the compact JSON of `value`: a size that does not depend on how a client spaces it."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


class TaskOut(BaseModel):
    """A task as every tool returns it; `id` is the per-user number."""

    id: int
    title: str
    description: str
    priority: Priority
    due_date: dt.date | None
    tags: list[str]
    completed: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    completed_at: dt.datetime | None


class TaskList(BaseModel):
    tasks: list[TaskOut]
    total: int = Field(description="How many tasks match the filters, ignoring limit and offset.")


class DeletedTask(BaseModel):
    deleted: bool = True
    task: TaskOut


class ToolCall(BaseModel):
    """A tool call requested by the assistant, in the OpenAI chat format."""

    model_config = ConfigDict(extra="allow")

    id: CallId
    type: Literal["function"] = "function"
    function: Annotated[dict[str, Any], AfterValidator(_json_safe)]
    _json_length: int = PrivateAttr(default=0)  # measured once here, summed again by the batch's check

    @model_validator(mode="after")
    def _json_safe_and_small(self) -> "ToolCall":
        _json_safe(self.model_extra)
        self._json_length = json_length(self.model_dump())
        if self._json_length > MESSAGE_LENGTH:
            raise ValueError(f"a tool call must be at most {MESSAGE_LENGTH} characters as JSON")
        return self


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    content: MessageContent = ""
    tool_calls: (
        Annotated[
            list[ToolCall],
            Field(
                max_length=TOOL_CALLS_PER_MESSAGE, description=f"Each at most {MESSAGE_LENGTH:,} characters as JSON."
            ),
        ]
        | None
    ) = None
    tool_call_id: CallId | None = None


def _fits_one_request(messages: list[MessageIn]) -> list[MessageIn]:
    size = sum(
        len(message.content) + sum(call._json_length for call in message.tool_calls or []) for message in messages
    )
    if size > BATCH_LENGTH:
        raise ValueError(f"contents and tool calls must hold at most {BATCH_LENGTH} characters in all")
    return messages


Messages = Annotated[
    list[MessageIn],
    Field(
        min_length=1,
        max_length=MESSAGES_PER_BATCH,
        description=f"1-{MESSAGES_PER_BATCH} messages; contents and tool calls (as JSON) hold at most {BATCH_LENGTH:,} characters in all.",
    ),
    AfterValidator(_fits_one_request),
]


class MessageOut(BaseModel):
    role: Role
    content: str
    tool_calls: list[dict[str, Any]] | None
    tool_call_id: str | None
    created_at: dt.datetime


class ConversationOut(BaseModel):
    conversation_id: uuid.UUID
    title: str
    created_at: dt.datetime
    updated_at: dt.datetime


class ConversationList(BaseModel):
    conversations: list[ConversationOut]
    total: int


class ConversationWithMessages(ConversationOut):
    messages: list[MessageOut] = Field(description="Messages in the order they were written.")
    total_messages: int


class AppendResult(BaseModel):
    conversation_id: uuid.UUID
    appended: int = Field(description="How many messages the batch holds (a replayed key: the first batch's size).")
    total_messages: int = Field(description="The conversation's message count right after the batch.")
    messages: list[MessageOut] = Field(
        default_factory=list, description="The last `recent` messages, oldest first (empty when recent is 0)."
    )


class DeletedConversation(BaseModel):
    deleted: bool = True
    conversation_id: uuid.UUID


class ConversationHit(BaseModel):
    """A conversation that matches a search, with the passage that matched best."""

    conversation_id: uuid.UUID
    title: str
    updated_at: dt.datetime
    snippet: str = Field(
        description="Plain text around the matching words, which stand between « and »; no HTML or Markdown added "
        "(escape it to show it as Markdown)."
    )
    rank: float = Field(description="How well it matches: higher is better (title words count double).")


class ConversationSearch(BaseModel):
    conversations: list[ConversationHit] = Field(description="Best match first.")
    total: int = Field(description="How many of the user's conversations match, ignoring limit.")


def user_id(value: str) -> str:
    """A user id as a credential names it (the page's X-Todo-User header, later a token's claim): one printable
    line of 1-320 characters, surrounding spaces dropped. Raises ValueError saying what is wrong."""
    user = value.strip()
    if not 1 <= len(user) <= USER_ID_LENGTH:
        raise ValueError(f"a user id must be 1-{USER_ID_LENGTH} characters")
    return _single_line(_printable(user))


TokenName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TOKEN_NAME_LENGTH),
    AfterValidator(_printable),
    AfterValidator(_single_line),
    Field(description=f"What the token is for, e.g. 'notebook' or 'VS Code' (1-{TOKEN_NAME_LENGTH} characters)."),
]
ExpiresInDays = Annotated[
    int,
    Field(
        ge=1,
        le=TOKEN_DAYS_MAX,
        description=f"Days until the token stops working (1-{TOKEN_DAYS_MAX}); omit for no expiry.",
    ),
    NotBool,
]


class AccessTokenOut(BaseModel):
    """A personal access token as listed: never the token itself."""

    token_id: uuid.UUID
    name: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None = Field(description="Accurate to a minute; null until first used.")


class NewAccessToken(AccessTokenOut):
    token: str = Field(description="The token, shown this once: only its hash is kept.")


class AccessTokenList(BaseModel):
    tokens: list[AccessTokenOut] = Field(description="Active tokens (not revoked, not expired), newest first.")


class RevokedAccessToken(BaseModel):
    revoked: bool = True
    token_id: uuid.UUID
