"""Property tests over every tool's arguments, through the real MCP server over HTTP and real Postgres.

For any arguments hypothesis makes up (see strategies.py), a call either
- succeeds, its result matches the tool's published output schema, and the database holds exactly what was
  sent after the documented normalisation (spec.py, the reference model) and nothing else changed; or
- is refused with one of the server's documented sentences ("Invalid arguments for <tool>: <field>: ...",
  "Task N does not exist...", ...) naming the fields the reference model says are wrong, and nothing at all
  changed in the database;
and never crashes (the SDK's generic "Error executing tool X", an empty message, a transport failure or 5xx).
The database is read directly (support.snapshot) before and after every call.

The caller is drawn apart from the arguments: the page's service token acting for the X-Todo-User header's user,
nearly always the world's user, sometimes another (look-alike) user, sometimes a header that names no one, which
must be refused with HTTP 400 and the documented sentence before any tool runs, with nothing changed. A `user_id`
argument, which no tool has any more, is an unknown argument like any other: refused, named, nothing changed.
"""

import datetime as dt
import decimal
import itertools
import uuid
from collections.abc import Callable
from typing import Any

import jsonschema
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.client import TokenRefused
from contract.schemas import (
    AppendResult,
    ConversationList,
    ConversationOut,
    ConversationSearch,
    ConversationWithMessages,
    DeletedConversation,
    DeletedTask,
    MessageOut,
    TaskList,
    TaskOut,
)
from contract.titles import title_from
from tests.mcp_server.support import spec, strategies
from tests.mcp_server.support.callers import (
    Callers,
    Outcome,
    UserState,
    call,
    count,
    header_refused,
    parse_refusal,
    snapshot,
)
from tests.mcp_server.support.spec import UNKNOWN
from tests.mcp_server.support.strategies import Header

pytestmark = pytest.mark.reliability

EXAMPLES_PER_TOOL = 150
PROPERTY_SETTINGS = settings(
    max_examples=EXAMPLES_PER_TOOL,
    deadline=None,
    # One world (seeded user, one MCP client) per test, shared by its examples on purpose; the state each
    # example starts from is read from the database, so examples stay independent of each other's effects.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)


class World:
    """One test's user with a few tasks and conversations, kept stocked so every tool has something to hit."""

    def __init__(self, callers: Callers, pg: psycopg.Connection):
        self.callers, self.pg = callers, pg
        self.user = f"rel-{uuid.uuid4().hex[:10]}@example.com"
        self.me = callers[self.user]
        self.tools = {tool.name: tool for tool in self.me.list_tools()}
        yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
        self.must(
            "add_task", title="Pay rent", description="monthly", priority="high", due_date=yesterday, tags=["home"]
        )
        self.must("add_task", title="Write Q3 report", description="numbers from finance", tags=["work", "q3"])
        self.must("add_task", title="buy milk", priority="low", due_date="2099-01-01")
        self.must("complete_task", task_id=3)
        self.must("add_task", title="to be deleted")
        self.must("delete_task", task_id=4)
        self.must("add_task", title="Ünïcödé tåsk 👍", description="ça va ✓", tags=["über", "🔥"])
        first = self.must("create_conversation")["conversation_id"]
        self.must(
            "append_messages",
            conversation_id=first,
            messages=[
                {"role": "user", "content": "add pay rent"},
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c1", "function": {"name": "add_task", "arguments": "{}"}}],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "{}"},
            ],
        )
        self.must("create_conversation", title="Plans")

    def must(self, tool: str, **arguments: Any) -> dict[str, Any]:
        outcome = call(self.me, tool, arguments)
        assert outcome.result is not None, outcome.describe()
        return outcome.result

    def caller(self, header: Header) -> Any:
        """The client that sends this header (one per header value, all on the test's one connection)."""
        if header.raw or header.value is None:
            return self.callers.raw(header.value)
        return self.callers[header.value]

    def state(self) -> UserState:
        return snapshot(self.pg, [self.user]).users[self.user]

    def replenish(self) -> None:
        state = self.state()
        if sum(not row["completed"] for row in state.tasks.values()) < 2:
            self.must("add_task", title=f"refill {state.counter}", tags=["refill"])
        if sum(row["completed"] for row in state.tasks.values()) < 1:
            self.must("complete_task", task_id=self.must("add_task", title="refill done")["id"])
        if len(state.conversations) < 2:
            cid = self.must("create_conversation")["conversation_id"]
            self.must("append_messages", conversation_id=cid, messages=[{"role": "user", "content": "hi"}])


@pytest.fixture
def world(callers: Callers, pg: psycopg.Connection) -> World:
    return World(callers, pg)


@pytest.mark.parametrize("tool", list(spec.TOOLS))
@PROPERTY_SETTINGS
@given(data=st.data())
def test_every_call_succeeds_as_specified_or_is_refused_cleanly(world: World, tool: str, data: st.DataObject) -> None:
    drawn = data.draw(strategies.tool_arguments(tool, world.user), label="arguments")
    header = data.draw(strategies.headers(world.user), label="X-Todo-User")
    state = world.state()
    conversations = sorted(str(cid) for cid in state.conversations)
    arguments = strategies.resolve(drawn, sorted(state.tasks), state.counter or 0, conversations)
    check_call(world, tool, arguments, header)
    world.replenish()


FILTERS: list[dict[str, Any]] = [
    {},
    {"priority": "high"},
    {"priority": "low"},
    {"tag": "WORK"},
    {"tag": "#über"},
    {"due_before": "2030-01-01"},
    {"overdue": True},
    {"search": "RENT"},
    {"search": "ü"},
    {"search": "%"},
    {"search": "_"},
]
PAGES = [{}, {"limit": 1}, {"limit": 2, "offset": 1}, {"limit": 200, "offset": 3}, {"offset": 1_000_000}]


def test_list_tasks_every_status_sort_filter_and_page(world: World) -> None:
    """The same checks as the property test, over a fixed sweep of list_tasks arguments (a deterministic floor
    under what hypothesis happens to draw)."""
    world.must("update_task", task_id=2, due_date="2031-05-01")
    world.must("add_task", title="rent again", tags=["#Work"], priority="high")
    world.must("complete_task", task_id=world.must("add_task", title="old and done", due_date="2020-01-01")["id"])
    for status, sort, filters, page in itertools.product(
        ["open", "done", "all"], ["created", "due", "priority"], FILTERS, PAGES
    ):
        outcome = check_call(world, "list_tasks", {"status": status, "sort": sort, **filters, **page})
        assert outcome.result is not None, outcome.describe()


UPDATES: dict[str, Any] = {
    "title": "  renamed  ",
    "description": "new notes",
    "priority": "low",
    "due_date": "2031-01-02",
    "clear_due_date": True,
    "tags": ["#New", "new", "Other"],
}


def test_update_task_every_combination_of_fields(world: World) -> None:
    """Every subset of update_task's fields (the due_date + clear_due_date conflict included) on existing and
    missing tasks, with the property test's checks."""
    for size in range(len(UPDATES) + 1):
        for fields in itertools.combinations(UPDATES, size):
            for task_id in (1, 2, 4, 999):  # open, open, deleted, never existed
                check_call(world, "update_task", {"task_id": task_id, **{f: UPDATES[f] for f in fields}})


def test_conversations_read_with_every_limit_and_page(world: World) -> None:
    """get_conversation with every limit around the message count, list_conversations with every page."""
    for i in range(3):
        cid = world.must("create_conversation")["conversation_id"]
        messages = [{"role": "user", "content": f"m{j}"} for j in range(i * 2)]
        if messages:
            world.must("append_messages", conversation_id=cid, messages=messages)
    for cid in world.state().conversations:
        for limit in (None, 1, 2, 3, 4, 5, 10_000):
            check_call(world, "get_conversation", {"conversation_id": str(cid), "limit": limit})
    for limit, offset in itertools.product((1, 2, 3, 200), (0, 1, 4, 5, 1_000_000)):
        check_call(world, "list_conversations", {"limit": limit, "offset": offset})


def test_append_messages_with_every_key_and_recent(world: World) -> None:
    """Keyed appends in a fixed order (first use, replay, the same key in another conversation, another key,
    no key), each with every `recent` around the conversation's size, with the property test's checks: the
    replays hypothesis happens to draw, made certain."""
    first, second = sorted(str(cid) for cid in world.state().conversations)[:2]
    batch = [{"role": "user", "content": "keyed"}, {"role": "assistant", "content": "answer"}]
    for cid, key in [(first, "k1"), (first, "k1"), (second, "k1"), (first, "k2"), (first, None), (first, "k1")]:
        for recent in (0, 1, 2, 3, 200):
            arguments = {"conversation_id": cid, "messages": batch, "recent": recent}
            outcome = check_call(world, "append_messages", {**arguments, "idempotency_key": key})
            assert outcome.result is not None, outcome.describe()


CORPUS = [
    *strategies.TRICKY_TEXT,
    *strategies.BAD_TEXT,
    *(unit * n for unit, n in strategies.LONG_TEXT),
    "x" * 32,
    "x" * 33,
    "#" + "x" * 32,
    "İ" * 16,
    "x" * 320,
    "x" * 321,
]
# (tool, where the text goes); {text} marks the spot, {cid} the user's first conversation.
TEXT_SLOTS: list[tuple[str, dict[str, Any]]] = [
    ("add_task", {"title": "{text}"}),
    ("add_task", {"title": "t", "description": "{text}"}),
    ("add_task", {"title": "t", "tags": ["{text}"]}),
    ("add_task", {"title": "t", "tags": ["work", "{text}", "#WORK"]}),
    ("add_task", {"title": "t", "idempotency_key": "{text}"}),
    ("update_task", {"task_id": 1, "title": "{text}"}),
    ("update_task", {"task_id": 2, "description": "{text}"}),
    ("update_task", {"task_id": 5, "tags": ["{text}"]}),
    ("list_tasks", {"status": "all", "search": "{text}"}),
    ("list_tasks", {"status": "all", "tag": "{text}"}),
    ("list_tasks", {"user_id": "{text}"}),  # no tool has a user_id: refused as unknown, whatever the text
    ("create_conversation", {"title": "{text}"}),
    ("rename_conversation", {"conversation_id": "{cid}", "title": "{text}"}),
    ("search_conversations", {"query": "{text}"}),
    ("append_messages", {"conversation_id": "{cid}", "messages": [{"role": "user", "content": "{text}"}]}),
    ("append_messages", {"conversation_id": "{cid}", "messages": [{"role": "tool", "tool_call_id": "{text}"}]}),
    ("add_task", {"title": "t", "user_id": "{text}"}),
    ("delete_conversation", {"conversation_id": "{cid}", "user_id": "{text}"}),
]


def fill(template: Any, text: str, cid: str) -> Any:
    if template == "{text}":
        return text
    if template == "{cid}":
        return cid
    if isinstance(template, dict):
        return {key: fill(value, text, cid) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(value, text, cid) for value in template]
    return template


@pytest.mark.parametrize(("tool", "template"), TEXT_SLOTS, ids=[f"{t}-{i}" for i, (t, _) in enumerate(TEXT_SLOTS)])
def test_every_tricky_text_in_every_text_argument(world: World, tool: str, template: dict[str, Any]) -> None:
    """Every string of the corpus (injection-looking, unicode, control characters, at and over each limit) in
    every text argument, with the same checks as the property test: a deterministic floor under hypothesis."""
    cid = str(min(world.state().conversations))
    for text in CORPUS:
        check_call(world, tool, fill(template, text, cid))


HEADER_SLOTS: list[tuple[str, dict[str, Any]]] = [
    ("add_task", {"title": "from the header corpus"}),
    ("list_tasks", {"status": "all"}),
    ("create_conversation", {"title": "from the header corpus"}),
    ("delete_task", {"task_id": 1}),
]


@pytest.mark.parametrize(("tool", "arguments"), HEADER_SLOTS, ids=[tool for tool, _ in HEADER_SLOTS])
def test_every_tricky_text_as_the_x_todo_user_header(world: World, tool: str, arguments: dict[str, Any]) -> None:
    """Every string of the corpus as the user the service token acts for (sent as the app sends it, and as it
    is where an HTTP client can send it so), with the property test's checks: a header that names no one (empty,
    white space only, over 320 characters, control characters, line breaks) is refused with HTTP 400 before any
    tool runs and changes nothing; one that names a user acts for exactly that user."""
    for text in [*CORPUS, "x" * 321, "🔥" * 320, "🔥" * 321]:
        check_call(world, tool, arguments, Header(text))
        if text.isascii() and text.isprintable() and text == text.strip():
            check_call(world, tool, arguments, Header(text, raw=True))
    for header in [Header(None), Header("=?base64?!!?=", raw=True), Header("=?base64?AA==?=", raw=True)]:
        check_call(world, tool, arguments, header)


# A valid call of every tool (the credential's tools too): only the header can be wrong.
EVERY_TOOL: list[tuple[str, dict[str, Any]]] = [
    ("add_task", {"title": "t"}),
    ("list_tasks", {}),
    ("complete_task", {"task_id": 1}),
    ("reopen_task", {"task_id": 1}),
    ("update_task", {"task_id": 1, "title": "renamed"}),
    ("delete_task", {"task_id": 2}),
    ("create_conversation", {}),
    ("list_conversations", {}),
    ("get_conversation", {"conversation_id": "{cid}"}),
    ("append_messages", {"conversation_id": "{cid}", "messages": [{"role": "user", "content": "hi"}]}),
    ("rename_conversation", {"conversation_id": "{cid}", "title": "renamed"}),
    ("search_conversations", {"query": "rent"}),
    ("delete_conversation", {"conversation_id": "{cid}"}),
    ("create_access_token", {"name": "notebook"}),
    ("list_access_tokens", {}),
    ("revoke_access_token", {"token_id": "{text}"}),
]
NAMES_NO_ONE = [
    Header(None),
    Header(""),
    Header(" "),
    Header("\t \u3000"),
    Header("x" * 321),
    Header("a\x00b"),
    Header("\x07"),
    Header("\x1b[2J{user}"),
    Header("{user}\r\nX-Todo-User: victim@example.com"),
    Header("{user}\u2028{user}"),
    Header("", raw=True),
    Header("x" * 321, raw=True),
    Header("=?base64?!!?=", raw=True),
    Header("=?base64?AA==?=", raw=True),
    Header("=?base64?/w==?=", raw=True),
]


def test_a_header_that_names_no_one_is_refused_for_every_tool(world: World) -> None:
    """Every tool (the credential's own tools too) with valid arguments, and tools/list, with a header that names
    no user: HTTP 400 with the documented sentence before anything runs, nothing changed anywhere in the database.
    The floor under the headers hypothesis draws."""
    cid = str(min(world.state().conversations))
    token = str(world.must("create_access_token", name="to revoke")["token_id"])
    for header in NAMES_NO_ONE:
        if header.value is not None:
            header = Header(header.value.replace("{user}", world.user), header.raw)
        client = world.caller(header)
        for tool, template in EVERY_TOOL:
            arguments = {key: fill(value, token, cid) for key, value in template.items()}
            before = snapshot(world.pg, [world.user])
            outcome = call(client, tool, arguments)
            context = f"{tool}({arguments}) with X-Todo-User {header}: {outcome.describe()}"
            assert header_refused(outcome, present=header.value is not None), context
            assert snapshot(world.pg, [world.user]) == before, f"a refused call changed the database: {context}"
        with pytest.raises(TokenRefused) as refused:
            client.list_tools()
        assert refused.value.status == 400, refused.value
        count("x_todo_user", "fixed_probes", len(EVERY_TOOL) + 1)


def named_user(header: Header) -> tuple[str | None, bool]:
    """(the user the reference model says the header names, or None; whether it is sure)."""
    text = spec.header_text(header.value) if header.raw and header.value is not None else header.value
    try:
        return spec.header_user(text), True
    except spec.Bad:
        return None, True
    except spec.Maybe as exc:
        return exc.value, False


def claimed_users(arguments: dict[str, Any]) -> set[str]:
    """The users a `user_id` argument names, whose rows the call must not touch either."""
    claimed = arguments.get("user_id")
    if not isinstance(claimed, str) or "\x00" in claimed or not claimed.strip():
        return set()
    try:
        claimed.encode()
    except UnicodeEncodeError:
        return set()
    return {claimed, claimed.strip()}


def check_call(world: World, tool: str, arguments: dict[str, Any], header: Header | None = None) -> Outcome:
    """Call a tool once as the header says (the world's user by default) and check the outcome against the
    reference model and the database."""
    header = header or Header(world.user)
    verdict = spec.judge(tool, arguments)
    acting, sure = named_user(header)
    count(tool, "tried")
    if verdict.extra:
        count(tool, "with_unknown_fields")
    if "user_id" in arguments:
        count(tool, "with_user_id_argument")
    if header != Header(world.user):
        count("x_todo_user", "names_no_one" if acting is None else "names_another_spelling_or_user")
    users = {world.user} | ({acting} if acting else set()) | claimed_users(arguments)
    before = snapshot(world.pg, users)
    outcome = call(world.caller(header), tool, arguments)
    after = snapshot(world.pg, users)
    context = f"\n{tool}({arguments!r}) with X-Todo-User {header}\n-> {outcome.describe()}\nreference: {verdict}"

    assert outcome.crash is None, f"the call crashed:{context}"

    if outcome.status is not None:
        count(tool, "refused_x_todo_user")
        count("x_todo_user", f"refused_http_{outcome.status}")
        assert acting is None or not sure, f"refused a header that names a user:{context}"
        assert header_refused(outcome, present=header.value is not None), f"not the header's refusal:{context}"
        for marker in strategies.MARKERS:
            assert marker not in (outcome.error or "").lower(), f"the refusal repeats injected text back:{context}"
        assert after == before, f"a refused call changed the database:{context}"
        return outcome
    assert acting is not None, f"acted for a header that names no one:{context}"
    if header != Header(world.user):
        count("x_todo_user", "acted_for_the_user_named")

    if outcome.error is not None:
        count(tool, "refused")
        if "user_id" in arguments:
            count(tool, "user_id_argument_refused")
        check_refusal(tool, verdict, outcome.error, before.users[acting], context)
        assert after == before, f"a refused call changed the database:{context}"
        return outcome

    count(tool, "accepted")
    assert not verdict.bad, f"accepted arguments it must refuse ({sorted(verdict.bad)}):{context}"
    assert outcome.result is not None
    jsonschema.validate(outcome.result, world.tools[tool].output_schema or {})
    ORACLES[tool](verdict.values, before.users[acting], after.users[acting], outcome.result, before.today, context)
    for user in users - {acting}:
        assert after.users[user] == before.users[user], f"the call changed another user's rows:{context}"
    return outcome


def check_refusal(tool: str, verdict: spec.Verdict, message: str, state: UserState | None, context: str) -> None:
    refusal = parse_refusal(tool, message)
    assert refusal is not None, f"a refusal that is not one of the server's documented sentences:{context}"
    count(tool, f"refused_{refusal.kind}")
    for marker in strategies.MARKERS:
        assert marker not in message.lower(), f"the refusal repeats injected text back:{context}"
    if refusal.kind == "invalid":
        assert not verdict.must_accept, f"refused arguments that are fine:{context}"
        assert refusal.fields <= verdict.bad | verdict.maybe, f"the refusal names fields that are fine:{context}"
        # Every wrong field and every unknown argument named (pydantic reports them all).
        assert verdict.bad <= refusal.fields, f"a wrong field or unknown argument not named:{context}"
        return
    assert not verdict.bad, f"these arguments must be refused as invalid first:{context}"
    assert state is not None
    if refusal.kind == "both-due":
        assert tool == "update_task", context
        assert verdict.values["clear_due_date"] in (True, UNKNOWN), context
        assert verdict.values["due_date"] is not None, context
        return
    if tool == "update_task" and verdict.values["clear_due_date"] is True:
        assert verdict.values["due_date"] is None, f"due_date with clear_due_date must say so first:{context}"
    if refusal.kind == "task-missing":
        assert "task_id" in spec.TOOLS[tool], context
        number = verdict.values["task_id"]
        assert number in (refusal.task, UNKNOWN), f"the refusal names another task:{context}"
        assert refusal.task not in state.tasks, f"said a task does not exist, but it does:{context}"
        return
    assert refusal.kind == "conversation-missing" and "conversation_id" in spec.TOOLS[tool], context
    cid = verdict.values["conversation_id"]
    assert cid in (refusal.conversation, UNKNOWN), f"the refusal names another conversation:{context}"
    assert refusal.conversation not in state.conversations, f"said a conversation does not exist, but it does:{context}"


# What a successful call must have done. Each takes the normalised arguments, the acting user's rows before
# and after, the structured result, the database's current_date, and a context string for messages.

Oracle = Callable[[dict[str, Any], UserState, UserState, dict[str, Any], dt.date, str], None]
ORACLES: dict[str, Oracle] = {}


def oracle(*tools: str) -> Callable[[Oracle], Oracle]:
    def register(function: Oracle) -> Oracle:
        for tool in tools:
            ORACLES[tool] = function
        return function

    return register


def task_out(number: int, row: dict[str, Any]) -> TaskOut:
    return TaskOut(id=number, **{field: row[field] for field in TaskOut.model_fields if field != "id"})


def unchanged_except_task(before: UserState, after: UserState, number: int | None, context: str) -> None:
    assert {n: r for n, r in after.tasks.items() if n != number} == {
        n: r for n, r in before.tasks.items() if n != number
    }, f"other tasks changed:{context}"
    assert after.counter == before.counter, f"the task counter moved:{context}"
    assert (after.conversations, after.messages) == (before.conversations, before.messages), context


def unchanged_tasks(before: UserState, after: UserState, context: str) -> None:
    assert (after.tasks, after.counter) == (before.tasks, before.counter), f"tasks changed:{context}"


@oracle("add_task")
def check_add_task(v: dict[str, Any], b: UserState, a: UserState, result: dict[str, Any], today: dt.date, ctx: str):
    got = TaskOut.model_validate(result)
    key = v["idempotency_key"]
    earlier = [n for n, row in b.tasks.items() if key is not None and row["idempotency_key"] == key]
    if earlier:
        assert got == task_out(earlier[0], b.tasks[earlier[0]]), f"a retry did not return the first task:{ctx}"
        assert a == b, f"a retry with a used idempotency key changed something:{ctx}"
        return
    number = (b.counter or 0) + 1
    assert got.id == number and a.counter == number, f"not the next task number:{ctx}"
    assert set(a.tasks) == set(b.tasks) | {number}, ctx
    assert {n: a.tasks[n] for n in b.tasks} == b.tasks, f"other tasks changed:{ctx}"
    row = a.tasks[number]
    expected = {
        "title": v["title"],
        "description": v["description"],
        "priority": v["priority"],
        "due_date": v["due_date"],
        "tags": v["tags"],
        "completed": False,
        "completed_at": None,
        "idempotency_key": key,
    }
    for field, value in expected.items():
        if value is not UNKNOWN:
            assert row[field] == value, f"stored {field}={row[field]!r}, expected {value!r}:{ctx}"
    assert row["created_at"] == row["updated_at"], ctx
    assert got == task_out(number, row), f"the result is not what was stored:{ctx}"
    assert (a.conversations, a.messages) == (b.conversations, b.messages), ctx


PRIORITY_RANK = {"high": 0, "medium": 1, "low": 2}


def pg_lower(text: str) -> str:
    """Postgres ILIKE under C.UTF-8 lowercases one character at a time (towlower): 'İ' becomes 'i'."""
    return "".join(char.lower()[0] for char in text)


def cased_non_ascii(text: str) -> bool:
    return any(ord(c) > 127 and (c.lower() != c or c.upper() != c) for c in text)


@oracle("list_tasks")
def check_list_tasks(v: dict[str, Any], b: UserState, a: UserState, result: dict[str, Any], today: dt.date, ctx: str):
    assert a == b, f"a read changed something:{ctx}"
    got = TaskList.model_validate(result)
    for task in got.tasks:
        assert task.id in b.tasks and task == task_out(task.id, b.tasks[task.id]), f"listed a task not stored:{ctx}"
    if any(value is UNKNOWN for value in v.values()) or (v["search"] and cased_non_ascii(v["search"])):
        assert got.total >= len(got.tasks), ctx
        return

    def matches(row: dict[str, Any]) -> bool:
        if v["status"] != "all" and row["completed"] != (v["status"] == "done"):
            return False
        if v["priority"] is not None and row["priority"] != v["priority"]:
            return False
        if v["tag"] is not None and v["tag"] not in row["tags"]:
            return False
        if v["due_before"] is not None and not (row["due_date"] is not None and row["due_date"] < v["due_before"]):
            return False
        if v["overdue"] and not (row["due_date"] is not None and row["due_date"] < today and not row["completed"]):
            return False
        if v["search"] is not None:
            needle = pg_lower(v["search"])
            return needle in pg_lower(row["title"]) or needle in pg_lower(row["description"])
        return True

    order: dict[str, Callable[[tuple[int, dict[str, Any]]], Any]] = {
        "created": lambda item: item[0],
        "due": lambda item: (item[1]["due_date"] is None, item[1]["due_date"] or dt.date.min, item[0]),
        "priority": lambda item: (PRIORITY_RANK[item[1]["priority"]], item[0]),
    }
    expected = [n for n, _ in sorted(((n, r) for n, r in b.tasks.items() if matches(r)), key=order[v["sort"]])]
    page = expected[v["offset"] : v["offset"] + v["limit"]]
    assert [task.id for task in got.tasks] == page, f"listed {[t.id for t in got.tasks]}, expected {page}:{ctx}"
    assert got.total == len(expected), f"total {got.total}, expected {len(expected)}:{ctx}"


def target(v: dict[str, Any], result_id: int) -> int:
    return result_id if v["task_id"] is UNKNOWN else v["task_id"]


def check_set_completed(done: bool) -> Oracle:
    def check(v: dict[str, Any], b: UserState, a: UserState, result: dict[str, Any], today: dt.date, ctx: str):
        got = TaskOut.model_validate(result)
        number = target(v, got.id)
        assert number in b.tasks, f"changed a task that does not exist:{ctx}"
        pre, post = b.tasks[number], a.tasks[number]
        assert got == task_out(number, post), f"the result is not what was stored:{ctx}"
        unchanged_except_task(b, a, number, ctx)
        if pre["completed"] == done:
            assert post == pre, f"repeating a completion/reopen changed the task:{ctx}"
            return
        assert post["completed"] is done and (post["completed_at"] is not None) is done, ctx
        if done:
            assert post["completed_at"] == post["updated_at"], ctx
        assert post["updated_at"] >= pre["updated_at"] and post["updated_at"] >= post["created_at"], ctx
        for field in ("title", "description", "priority", "due_date", "tags", "created_at", "idempotency_key"):
            assert post[field] == pre[field], f"{field} changed:{ctx}"

    return check


ORACLES["complete_task"] = check_set_completed(True)
ORACLES["reopen_task"] = check_set_completed(False)


@oracle("update_task")
def check_update_task(v: dict[str, Any], b: UserState, a: UserState, result: dict[str, Any], today: dt.date, ctx: str):
    got = TaskOut.model_validate(result)
    number = target(v, got.id)
    assert number in b.tasks, f"updated a task that does not exist:{ctx}"
    pre, post = b.tasks[number], a.tasks[number]
    assert got == task_out(number, post), f"the result is not what was stored:{ctx}"
    unchanged_except_task(b, a, number, ctx)
    fields = ("title", "description", "priority", "due_date", "tags")
    changes = {field: v[field] for field in fields if v[field] is not None}
    if v["clear_due_date"] is True:
        changes["due_date"] = None
    elif v["clear_due_date"] is UNKNOWN:
        changes.setdefault("due_date", UNKNOWN)
    if not changes:
        assert post == pre, f"an update without changes changed the task:{ctx}"
        return
    for field in fields:
        expected = changes.get(field, pre[field])
        if expected is not UNKNOWN:
            assert post[field] == expected, f"stored {field}={post[field]!r}, expected {expected!r}:{ctx}"
    for field in ("completed", "completed_at", "created_at", "idempotency_key"):
        assert post[field] == pre[field], f"{field} changed:{ctx}"
    assert post["updated_at"] >= pre["updated_at"], ctx


@oracle("delete_task")
def check_delete_task(v: dict[str, Any], b: UserState, a: UserState, result: dict[str, Any], today: dt.date, ctx: str):
    got = DeletedTask.model_validate(result)
    number = target(v, got.task.id)
    assert number in b.tasks, f"deleted a task that does not exist:{ctx}"
    assert got == DeletedTask(task=task_out(number, b.tasks[number])), f"the result is not the deleted task:{ctx}"
    assert number not in a.tasks, f"the task is still there:{ctx}"
    unchanged_except_task(b, a, number, ctx)


def conversation_out(cid: uuid.UUID, row: dict[str, Any]) -> ConversationOut:
    return ConversationOut(conversation_id=cid, **row)


@oracle("create_conversation")
def check_create(v: dict[str, Any], b: UserState, a: UserState, result: dict[str, Any], today: dt.date, ctx: str):
    unchanged_tasks(b, a, ctx)
    new = set(a.conversations) - set(b.conversations)
    assert len(new) == 1 and set(b.conversations) <= set(a.conversations), ctx
    [cid] = new
    row = a.conversations[cid]
    assert {c: a.conversations[c] for c in b.conversations} == b.conversations, ctx
    assert row["title"] == v["title"], f"stored title {row['title']!r}, expected {v['title']!r}:{ctx}"
    assert row["created_at"] == row["updated_at"] and a.messages[cid] == [], ctx
    assert ConversationOut.model_validate(result) == conversation_out(cid, row), ctx


def recency(item: tuple[uuid.UUID, dict[str, Any]]) -> tuple[dt.datetime, dt.datetime]:
    return item[1]["updated_at"], item[1]["created_at"]


@oracle("list_conversations")
def check_list_conversations(
    v: dict[str, Any], b: UserState, a: UserState, result: dict[str, Any], today: dt.date, ctx: str
):
    assert a == b, f"a read changed something:{ctx}"
    got = ConversationList.model_validate(result)
    for conversation in got.conversations:
        cid = conversation.conversation_id
        assert cid in b.conversations and conversation == conversation_out(cid, b.conversations[cid]), ctx
    if v["limit"] is UNKNOWN or v["offset"] is UNKNOWN:
        return
    expected = sorted(b.conversations.items(), key=recency, reverse=True)[v["offset"] : v["offset"] + v["limit"]]
    assert [(c.updated_at, c.created_at) for c in got.conversations] == [recency(item) for item in expected], ctx
    assert got.total == len(b.conversations), ctx


def message_out(row: dict[str, Any]) -> MessageOut:
    return MessageOut(**{field: row[field] for field in MessageOut.model_fields})


@oracle("get_conversation")
def check_get_conversation(
    v: dict[str, Any], b: UserState, a: UserState, result: dict[str, Any], today: dt.date, ctx: str
):
    assert a == b, f"a read changed something:{ctx}"
    got = ConversationWithMessages.model_validate(result)
    cid = got.conversation_id if v["conversation_id"] is UNKNOWN else v["conversation_id"]
    assert cid == got.conversation_id and cid in b.conversations, f"read a conversation that does not exist:{ctx}"
    everything = [message_out(row) for row in b.messages[cid]]
    limit = v["limit"]
    expected = everything if limit is None or limit is UNKNOWN else everything[-limit:]
    if limit is not UNKNOWN:
        assert got.messages == expected, f"not the conversation's (most recent) messages in order:{ctx}"
    assert got.total_messages == len(everything), ctx
    assert ConversationOut(**got.model_dump(exclude={"messages", "total_messages"})) == conversation_out(
        cid, b.conversations[cid]
    ), ctx


def json_numbers(value: Any) -> Any:
    """JSON numbers compared as the decimals they are: jsonb keeps 3.653026147342637e+16 as 36530261473426370,
    which Python reads back as an int that is not the float that was sent."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return decimal.Decimal(repr(value) if isinstance(value, float) else value)
    if isinstance(value, dict):
        return {key: json_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_numbers(item) for item in value]
    return value


@oracle("append_messages")
def check_append(v: dict[str, Any], b: UserState, a: UserState, result: dict[str, Any], today: dt.date, ctx: str):
    unchanged_tasks(b, a, ctx)
    got = AppendResult.model_validate(result)
    cid = got.conversation_id if v["conversation_id"] is UNKNOWN else v["conversation_id"]
    assert cid == got.conversation_id and cid in b.conversations, f"appended to a missing conversation:{ctx}"
    old, new = b.messages[cid], a.messages[cid]
    key, recent = v["idempotency_key"], v["recent"]
    if recent is not UNKNOWN:
        tail = [message_out(row) for row in new[max(0, len(new) - recent) :]] if recent else []
        assert got.messages == tail, f"not the last {recent} messages after the append, in order:{ctx}"
    used = [position for position, row in enumerate(old, 1) if key is not None and row["idempotency_key"] == key]
    if used:
        count("append_messages", "replayed_by_key")
        assert a == b, f"a retry with a key used in this conversation changed something:{ctx}"
        first_answer = (len(used), used[-1])
        assert (got.appended, got.total_messages) == first_answer, f"not the first append's answer:{ctx}"
        return
    assert new[: len(old)] == old, f"earlier messages changed:{ctx}"
    added = new[len(old) :]
    assert (got.appended, got.total_messages) == (len(added), len(new)), ctx
    assert len({row["created_at"] for row in added}) == 1, ctx
    assert all(row["idempotency_key"] == key for row in added), f"the batch does not carry its key:{ctx}"
    for other in set(b.conversations) - {cid}:
        assert (a.conversations[other], a.messages[other]) == (b.conversations[other], b.messages[other]), ctx
    pre, post = b.conversations[cid], a.conversations[cid]
    assert post["updated_at"] >= pre["updated_at"] and post["created_at"] == pre["created_at"], ctx
    sent = v["messages"]
    if sent is UNKNOWN:
        return
    assert len(added) == len(sent), f"{len(added)} stored, {len(sent)} sent:{ctx}"
    for stored, message in zip(added, sent, strict=True):
        kept = {k: json_numbers(stored[k]) for k in message}
        assert kept == json_numbers(message), f"stored {stored!r}, sent {message!r}:{ctx}"
    first_user_text = next((m["content"] for m in sent if m["role"] == "user" and m["content"].strip()), "")
    title = pre["title"] or title_from(first_user_text)  # the short title, pinned by test_titles.py
    assert post["title"] == title, f"title {post['title']!r}, expected {title!r}:{ctx}"


@oracle("rename_conversation")
def check_rename(v: dict[str, Any], b: UserState, a: UserState, result: dict[str, Any], today: dt.date, ctx: str):
    unchanged_tasks(b, a, ctx)
    got = ConversationOut.model_validate(result)
    cid = got.conversation_id if v["conversation_id"] is UNKNOWN else v["conversation_id"]
    assert cid == got.conversation_id and cid in b.conversations, f"renamed a missing conversation:{ctx}"
    assert a.messages == b.messages, f"messages changed:{ctx}"
    assert {c: r for c, r in a.conversations.items() if c != cid} == {
        c: r for c, r in b.conversations.items() if c != cid
    }, f"other conversations changed:{ctx}"
    expected = {**b.conversations[cid], "title": v["title"]} if v["title"] is not UNKNOWN else a.conversations[cid]
    assert a.conversations[cid] == expected, f"stored {a.conversations[cid]!r}, expected {expected!r}:{ctx}"
    assert got == conversation_out(cid, a.conversations[cid]), ctx


@oracle("search_conversations")
def check_search(v: dict[str, Any], b: UserState, a: UserState, result: dict[str, Any], today: dt.date, ctx: str):
    assert a == b, f"a read changed something:{ctx}"
    got = ConversationSearch.model_validate(result)
    for hit in got.conversations:
        cid = hit.conversation_id
        assert cid in b.conversations, f"found a conversation that is not the user's:{ctx}"
        row = b.conversations[cid]
        assert (hit.title, hit.updated_at) == (row["title"], row["updated_at"]), ctx
        assert hit.snippet and "\n" not in hit.snippet and hit.rank > 0, ctx
    found = [hit.conversation_id for hit in got.conversations]
    assert len(set(found)) == len(found), f"a conversation found twice:{ctx}"
    assert [hit.rank for hit in got.conversations] == sorted((hit.rank for hit in got.conversations), reverse=True), ctx
    assert len(found) <= got.total <= len(b.conversations), ctx
    if v["limit"] is not UNKNOWN:
        assert len(found) == min(v["limit"], got.total), f"not the first {v['limit']} of {got.total}:{ctx}"


@oracle("delete_conversation")
def check_delete_conversation(
    v: dict[str, Any], b: UserState, a: UserState, result: dict[str, Any], today: dt.date, ctx: str
):
    unchanged_tasks(b, a, ctx)
    got = DeletedConversation.model_validate(result)
    cid = got.conversation_id if v["conversation_id"] is UNKNOWN else v["conversation_id"]
    assert cid == got.conversation_id and cid in b.conversations, f"deleted a missing conversation:{ctx}"
    assert cid not in a.conversations and cid not in a.messages, f"the conversation is still there:{ctx}"
    assert {c: r for c, r in b.conversations.items() if c != cid} == a.conversations, ctx
    assert got == DeletedConversation(conversation_id=cid), ctx


# Unknown arguments


def test_unknown_arguments_are_refused_and_change_nothing(callers: Callers, pg: psycopg.Connection) -> None:
    """Was (finding 10): an argument no tool declares was dropped without a word, so a model that sent
    `completed: true` to add_task or `statuss: "done"` to list_tasks got a success that did not do what it asked.
    Now every tool's published schema says `additionalProperties: false` and the server enforces exactly that:
    the call is refused, naming the unknown arguments (not their values) and the known ones, and nothing changes.
    Since e1c1306 `user_id` is one of them: no tool takes a user, not even the caller's own id.
    """
    user, other = (f"rel-{uuid.uuid4().hex[:10]}@example.com" for _ in range(2))
    me = callers[user]
    tools = {tool.name: tool for tool in me.list_tools()}
    assert all(tool.input_schema.get("additionalProperties") is False for tool in tools.values())
    assert not any("user_id" in tool.input_schema["properties"] for tool in tools.values())
    added = call(me, "add_task", {"title": "t"})
    assert added.result is not None, added.describe()
    assert call(callers[other], "add_task", {"title": "theirs"}).result is not None
    probes: list[tuple[str, dict[str, Any], list[str]]] = [
        (
            "add_task",
            {"title": "t", "completed": True, "id": 99, "owner": "someone-else", "priority_level": 1},
            ["'completed'", "'id'", "'owner'", "'priority_level'"],
        ),
        ("list_tasks", {"statuss": "done", "limit": 5}, ["'statuss'"]),
        ("complete_task", {"task_id": 1, "user": "someone-else"}, ["'user'"]),
        ("create_conversation", {"id": str(uuid.uuid4()), "messages": []}, ["'id'", "'messages'"]),
        ("delete_task", {"task_id": 1, "x" * 100: "ignore previous instructions"}, [repr("x" * 39 + "…")]),
        ("add_task", {"title": "t", "user_id": user}, ["'user_id'"]),
        ("list_tasks", {"user_id": other, "status": "all"}, ["'user_id'"]),
        ("delete_task", {"task_id": 1, "user_id": other}, ["'user_id'"]),
        (
            "update_task",
            {"task_id": 1, "title": "x", "user_id": "someone-else", "owner": other},
            ["'user_id'", "'owner'"],
        ),
        ("create_access_token", {"name": "n", "user_id": other}, ["'user_id'"]),
    ]
    for tool, arguments, names in probes:
        before = snapshot(pg, [user, other, "someone-else"])
        outcome = call(me, tool, arguments)
        after = snapshot(pg, [user, other, "someone-else"])
        assert after == before, f"a refused call changed something: {outcome.describe()}"
        refusal = parse_refusal(tool, outcome.error or "")
        assert refusal is not None and refusal.kind == "invalid", outcome.describe()
        assert refusal.fields == set(names), outcome.describe()
        known = ", ".join(tools[tool].input_schema["properties"])
        label = "unknown argument" if len(names) == 1 else "unknown arguments"
        expected = f"Invalid arguments for {tool}: {label} {', '.join(names)} (known: {known})."
        assert outcome.error == expected + " Nothing was changed; fix them and retry.", outcome.error
        for value in ("someone-else", "ignore previous instructions", "99", user, other):
            assert value not in outcome.error, f"the refusal repeats a value: {outcome.error}"
    count("unknown_fields", "probes", len(probes))
