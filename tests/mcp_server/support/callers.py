"""The reliability suite's shared pieces: counting, one client per user, calling a tool and classifying what came
back, and database snapshots.

The server knows who is calling from the credential: the page's service token acts for the user named in the
X-Todo-User header, a personal access token for its owner. No tool takes a user argument. A call "as user U" goes
through `Callers`: one app connection (McpConnection) with the service token, and one cheap per-user view of it
(TodoClient acting for U, which sends X-Todo-User) per user, so no call opens an HTTP client of its own.

A call has exactly three outcomes here: a result, a refusal (a tool error whose message is one of the server's
documented sentences, or an HTTP 400/401/403 whose body says what is wrong with the credential or the header it
came with), or a crash (the SDK's generic "Error executing tool X", an empty message, a transport failure, a 5xx).
A crash always fails a test.
"""

import dataclasses
import datetime as dt
import re
import uuid
from collections import defaultdict
from typing import Any

import psycopg
from psycopg.rows import dict_row

from app.client import USER_HEADER, McpConnection, ServiceUnavailable, TodoClient, TokenRefused, ToolError

# section -> key -> count; written to artifacts/reliability-counts.json when the session ends (conftest.py).
COUNTS: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))


def count(section: str, key: str, n: int = 1) -> None:
    COUNTS[section][key] += n


# Calling a tool


class Callers:
    """One client per caller over one shared connection, as the page does it: `callers[user]` acts for `user` (the
    app's TodoClient, which sends X-Todo-User as the app encodes it); `callers.raw(value)` sends exactly `value` as
    the header, or no header at all for None. Each is made once and kept."""

    def __init__(self, conn: McpConnection):
        self.conn = conn
        self._acting: dict[str, TodoClient] = {}
        self._raw: dict[str | None, TodoClient] = {}

    def __getitem__(self, user: str) -> TodoClient:
        if user not in self._acting:
            self._acting[user] = TodoClient(self.conn, acting_for=user)
        return self._acting[user]

    def raw(self, value: str | None) -> TodoClient:
        if value not in self._raw:
            client = TodoClient(self.conn)
            client.headers = {} if value is None else {USER_HEADER: value}
            self._raw[value] = client
        return self._raw[value]


@dataclasses.dataclass
class Outcome:
    result: dict[str, Any] | None = None
    error: str | None = None
    crash: str | None = None
    status: int | None = None  # the HTTP status when the request was refused before any tool ran (400/401/403)

    def describe(self) -> str:
        if self.crash is not None:
            return f"CRASH: {self.crash}"
        if self.status is not None:
            return f"HTTP {self.status}: {self.error}"
        if self.error is not None:
            return f"refused: {self.error}"
        return f"ok: {self.result}"


def call(client: TodoClient, tool: str, arguments: dict[str, Any]) -> Outcome:
    """Call a tool with exactly these arguments, as the caller `client` is, over real HTTP; classify the answer."""
    try:
        return Outcome(result=client.call_tool(tool, arguments))
    except TokenRefused as exc:
        return Outcome(status=exc.status, error=exc.detail.removeprefix(f"HTTP {exc.status}: "))
    except ToolError as exc:
        text = str(exc)
        if (
            not text.strip()
            or text.startswith("Error executing tool")
            or text.endswith("returned no structured result")
        ):
            return Outcome(crash=text or "<empty error message>")
        return Outcome(error=text)
    except ServiceUnavailable as exc:
        return Outcome(crash=f"ServiceUnavailable ({exc.detail})")


# The server's refusals: every one of them must be one of these sentences.

TASK_MISSING = "Task {} does not exist. Call list_tasks to see the task numbers."
CONVERSATION_MISSING = "Conversation {} does not exist. Start a new conversation."
BOTH_DUE = "Give either due_date or clear_due_date, not both. Nothing was changed."
_INVALID = re.compile(
    r"Invalid arguments for (?P<tool>\w+): (?P<problems>.+)\. Nothing was changed; fix them and retry\.", re.S
)
_PROBLEM_FIELD = re.compile(r"(?:^|; )(?P<field>[^;]+?): ")
# The unknown-arguments problem comes first: names as Python string literals, then the names the tool knows.
_QUOTED = r"'(?:[^'\\]|\\.)*'|" + r'"(?:[^"\\]|\\.)*"'
_UNKNOWN = re.compile(
    rf"unknown arguments? (?P<names>(?:{_QUOTED})(?:, (?:{_QUOTED}))*) \(known: [a-z_]+(?:, [a-z_]+)*\)(?:; |$)"
)
# The credential's refusals (HTTP 400/403, a JSON body with the sentence), before any tool sees the call.
NO_USER = "The service token acts for a user: name the signed-in user in the X-Todo-User header."
_NOT_A_USER = re.compile(r"The X-Todo-User header is not a user id: (?P<why>[^\n]+)\.")
NAMES_USER = "A personal access token acts only for its owner: remove the X-Todo-User header."
SERVICE_ONLY = (
    "{} is not for personal access tokens: they are created and revoked on the page (sidebar, API access), and a "
    "token cannot make or revoke tokens."
)
TOKEN_MISSING = "Access token {} does not exist (or was revoked already). Call list_access_tokens."


def header_refused(outcome: Outcome, *, present: bool = True) -> bool:
    """Whether the service token's call was refused for its X-Todo-User header (HTTP 400, the documented sentence:
    NO_USER when there was none, "is not a user id: <why>" otherwise)."""
    if outcome.status != 400 or outcome.error is None:
        return False
    return _NOT_A_USER.fullmatch(outcome.error) is not None if present else outcome.error == NO_USER


_TASK_MISSING = re.compile(r"Task (?P<n>\d+) does not exist\. Call list_tasks to see the task numbers\.")
_CONVERSATION_MISSING = re.compile(
    r"Conversation (?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}) does not exist\. "
    r"Start a new conversation\."
)


@dataclasses.dataclass(frozen=True)
class Refusal:
    kind: str  # invalid | task-missing | conversation-missing | both-due
    fields: frozenset[str] = frozenset()  # top-level argument names an "invalid" refusal names (unknown: quoted)
    task: int | None = None
    conversation: uuid.UUID | None = None


def parse_refusal(tool: str, message: str) -> Refusal | None:
    """The refusal a message is, or None when it is none of the documented sentences."""
    if m := _INVALID.fullmatch(message):
        if m["tool"] != tool:
            return None
        problems, unknown = m["problems"], frozenset[str]()
        if u := _UNKNOWN.match(problems):
            # Kept quoted, as spec.shown_name() writes them: names can hold anything, ': ' and '; ' included.
            unknown = frozenset(re.findall(_QUOTED, u["names"]))
            problems = problems[u.end() :]
        fields = frozenset(f["field"].split(".")[0] or f["field"] for f in _PROBLEM_FIELD.finditer(problems))
        return Refusal("invalid", fields=fields | unknown) if fields or unknown else None
    if m := _TASK_MISSING.fullmatch(message):
        return Refusal("task-missing", task=int(m["n"]))
    if m := _CONVERSATION_MISSING.fullmatch(message):
        return Refusal("conversation-missing", conversation=uuid.UUID(m["id"]))
    if message == BOTH_DUE:
        return Refusal("both-due")
    return None


# Snapshots of the database: what a call changed, read from Postgres directly rather than through the server.


@dataclasses.dataclass(frozen=True)
class UserState:
    tasks: dict[int, dict[str, Any]]
    counter: int | None
    conversations: dict[uuid.UUID, dict[str, Any]]
    messages: dict[uuid.UUID, list[dict[str, Any]]]
    tokens: dict[uuid.UUID, dict[str, Any]]  # personal access tokens, revoked ones included (not last_used_at)


@dataclasses.dataclass(frozen=True)
class Snapshot:
    users: dict[str, UserState]
    totals: tuple[Any, ...]  # row counts and high-water marks of every table (TOTALS): any write anywhere moves them
    today: dt.date  # the callers' today: UTC's, as none of them sends X-Todo-Timezone


TASK_FIELDS = (
    "title",
    "description",
    "priority",
    "due_date",
    "tags",
    "completed",
    "created_at",
    "updated_at",
    "completed_at",
    "idempotency_key",
)
# Every column named: the snapshot reads rows as dicts, where unnamed columns (count, max, ...) would collide.
TOTALS = """
SELECT (SELECT count(*) FROM tasks) AS tasks, (SELECT max(pk) FROM tasks) AS task_pk,
       (SELECT max(updated_at) FROM tasks) AS task_updated, (SELECT max(completed_at) FROM tasks) AS task_completed,
       (SELECT count(*) FROM user_counters) AS counters, (SELECT sum(last_task_number) FROM user_counters) AS numbers,
       (SELECT count(*) FROM conversations) AS conversations,
       (SELECT max(updated_at) FROM conversations) AS conversation_updated, (SELECT count(*) FROM messages) AS messages,
       (SELECT max(id) FROM messages) AS message_id, (SELECT count(*) FROM access_tokens) AS tokens,
       (SELECT count(revoked_at) FROM access_tokens) AS revoked, (SELECT max(created_at) FROM access_tokens) AS token_created,
       (now() AT TIME ZONE 'UTC')::date AS today
"""


def snapshot(pg: psycopg.Connection, users: set[str] | list[str]) -> Snapshot:
    names = sorted(set(users))
    with pg.cursor(row_factory=dict_row) as cur:
        tasks: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in names}
        columns = ", ".join(TASK_FIELDS)
        for row in cur.execute(f"SELECT user_id, number, {columns} FROM tasks WHERE user_id = ANY(%s)", [names]):
            tasks[row.pop("user_id")][row.pop("number")] = row
        counters = {
            row["user_id"]: row["last_task_number"]
            for row in cur.execute(
                "SELECT user_id, last_task_number FROM user_counters WHERE user_id = ANY(%s)", [names]
            )
        }
        conversations: dict[str, dict[uuid.UUID, dict[str, Any]]] = {name: {} for name in names}
        owner: dict[uuid.UUID, str] = {}
        for row in cur.execute(
            "SELECT id, user_id, title, created_at, updated_at FROM conversations WHERE user_id = ANY(%s)", [names]
        ):
            owner[row["id"]] = row["user_id"]
            conversations[row.pop("user_id")][row.pop("id")] = row
        messages: dict[str, dict[uuid.UUID, list[dict[str, Any]]]] = {
            name: {cid: [] for cid in conversations[name]} for name in names
        }
        for row in cur.execute(
            "SELECT m.conversation_id, m.role, m.content, m.tool_calls, m.tool_call_id, m.created_at, m.idempotency_key "
            "FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.user_id = ANY(%s) "
            "ORDER BY m.id",
            [names],
        ):
            cid = row.pop("conversation_id")
            messages[owner[cid]][cid].append(row)
        tokens: dict[str, dict[uuid.UUID, dict[str, Any]]] = {name: {} for name in names}
        for row in cur.execute(
            "SELECT id, user_id, name, token_hash, created_at, expires_at, revoked_at FROM access_tokens "
            "WHERE user_id = ANY(%s)",
            [names],
        ):
            tokens[row.pop("user_id")][row.pop("id")] = row
        *totals, today = cur.execute(TOTALS).fetchone().values()  # type: ignore[union-attr]
    return Snapshot(
        users={
            name: UserState(tasks[name], counters.get(name), conversations[name], messages[name], tokens[name])
            for name in names
        },
        totals=tuple(totals),
        today=today,
    )
