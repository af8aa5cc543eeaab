"""Raw HTTP bodies no SDK client would send: lone surrogates, NaN and Infinity, numbers out of any range, deep
nesting, invalid UTF-8, duplicate keys, wrong JSON-RPC shapes, bodies over the size limit.

The server must answer each with a 4xx or a clean JSON-RPC error or tool refusal: never a 5xx, never the SDK's
generic "Error executing tool X", and a refused request changes nothing in the database.

Every body goes with the page's service token acting for the test's user (X-Todo-User). The header itself gets the
same treatment, as bytes on a socket (what no HTTP client library sends): empty, white space, over 320 characters,
control characters, NUL, bytes that are not ASCII, the `=?base64?...?=` form broken, a line break inside.
"""

import base64
import json
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import httpx2
import psycopg
import pytest

from tests.mcp_server.support.callers import count, snapshot
from tests.support import TOKEN

pytestmark = pytest.mark.reliability

HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
}
SLOT = "__RAW_VALUE__"

# Literal JSON text put where one argument's value goes.
RAW_VALUES = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-1e999",
    "1" + "0" * 400,
    "-" + "9" * 5000,
    "0.1e-99999",
    '"\\ud800"',
    '"a\\udfffb"',
    '"\\ud83d"',
    '"\\u0000"',
    '"\\u001b[2J"',
    "true",
    "null",
    "[]",
    "{}",
    '"\\uFFFF\\uFFFE"',
]


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


class Slot:
    """Where in a tool's arguments the raw value goes."""

    def __init__(self, tool: str, arguments: dict[str, Any]):
        self.tool, self.arguments = tool, arguments


def slots(cid: str) -> list[Slot]:
    def with_slot(tool: str, **arguments: Any) -> Slot:
        return Slot(tool, arguments)

    return [
        with_slot("add_task", title=SLOT),
        with_slot("add_task", title="t", description=SLOT),
        with_slot("add_task", title="t", tags=[SLOT]),
        with_slot("add_task", title="t", due_date=SLOT),
        with_slot("add_task", title="t", priority=SLOT),
        with_slot("add_task", title="t", unknown_extra=SLOT),
        with_slot("list_tasks", limit=SLOT),
        with_slot("list_tasks", offset=SLOT),
        with_slot("list_tasks", search=SLOT),
        with_slot("complete_task", task_id=SLOT),
        with_slot("update_task", task_id=1, title=SLOT),
        with_slot("update_task", task_id=1, tags=SLOT),
        with_slot("delete_task", task_id=SLOT),
        with_slot("create_conversation", title=SLOT),
        with_slot("get_conversation", conversation_id=SLOT),
        with_slot("get_conversation", conversation_id=cid, limit=SLOT),
        with_slot("append_messages", conversation_id=cid, messages=[{"role": "user", "content": SLOT}]),
        with_slot("append_messages", conversation_id=cid, messages=SLOT),
        with_slot(
            "append_messages",
            conversation_id=cid,
            messages=[{"role": "assistant", "tool_calls": [{"id": "c1", "function": {"arguments": SLOT}}]}],
        ),
        with_slot("append_messages", conversation_id=cid, messages=[{"role": "tool", "tool_call_id": SLOT}]),
        with_slot("rename_conversation", conversation_id=cid, title=SLOT),
        with_slot("rename_conversation", conversation_id=SLOT, title="renamed"),
        with_slot("search_conversations", query=SLOT),
        with_slot("search_conversations", query="hi", limit=SLOT),
        with_slot("delete_conversation", conversation_id=SLOT),
    ]


def request(tool: str, arguments: Any, raw: str) -> bytes:
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    )
    return body.replace(json.dumps(SLOT), raw).encode("utf-8", "surrogatepass")


@pytest.fixture
def user() -> str:
    return f"wire-{uuid.uuid4().hex[:10]}@example.com"


@pytest.fixture
def wire(mcp_url: str, user: str) -> Iterator[httpx2.Client]:
    """Raw HTTP with the page's service token, acting for the test's user."""
    with httpx2.Client(headers={**HEADERS, "X-Todo-User": user}, timeout=30) as http:
        yield http


@pytest.fixture
def seeded(wire: httpx2.Client, mcp_url: str, user: str) -> tuple[str, str]:
    post(wire, mcp_url, request("add_task", {"title": "one"}, ""))
    answer = post(wire, mcp_url, request("create_conversation", {}, ""))
    return user, answer.json()["result"]["structuredContent"]["conversation_id"]


def post(http: httpx2.Client, url: str, body: bytes, **headers: str) -> httpx2.Response:
    return http.post(url, content=body, headers=headers)


def check_answer(response: httpx2.Response, what: str) -> str:
    """Fail on a 5xx or a crash; return what kind of clean answer it was."""
    count("wire", "bodies")
    assert response.status_code < 500, f"{what}: {response.status_code}: {response.text[:500]}"
    if response.status_code != 200:
        count("wire", f"http_{response.status_code}")
        return "http-error"
    answer = response.json()
    if "error" in answer:
        assert answer["error"]["code"] in (-32700, -32600, -32601, -32602), answer
        count("wire", "jsonrpc_error")
        return "jsonrpc-error"
    result = answer["result"]
    if result.get("isError"):
        text = " ".join(block.get("text", "") for block in result["content"])
        assert text.strip() and not text.startswith("Error executing tool"), f"{what} crashed: {text}"
        count("wire", "tool_refusal")
        return "refused"
    count("wire", "accepted")
    return "accepted"


RAW = [*RAW_VALUES, *(nested(depth) for depth in (10, 150, 250, 1000, 20_000))]
SLOTS = 21


@pytest.mark.parametrize("slot_index", range(SLOTS))
def test_raw_values_in_every_argument_get_a_clean_answer(
    wire: httpx2.Client, mcp_url: str, pg: psycopg.Connection, seeded: tuple[str, str], slot_index: int
) -> None:
    """Every raw value in every slot (SLOTS x RAW requests in all)."""
    user, cid = seeded
    slot = slots(cid)[slot_index]
    text = json.dumps(slot.arguments)
    for raw in RAW:
        before = snapshot(pg, [user])
        response = post(wire, mcp_url, request(slot.tool, slot.arguments, raw))
        what = f"{slot.tool}({text.replace(json.dumps(SLOT), raw[:40])})"
        kind = check_answer(response, what)
        if kind != "accepted":
            assert snapshot(pg, [user]) == before, f"a refused request changed the database: {response.text[:300]}"


def rpc(method: str, params: Any = None, **fields: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params, **fields}).encode()


def call_body(name: Any, arguments: Any) -> bytes:
    return rpc("tools/call", {"name": name, "arguments": arguments})


LIST = rpc("tools/list")
BROKEN_BODIES: list[tuple[str, bytes, dict[str, str]]] = [
    ("empty body", b"", {}),
    ("not JSON", b"hello", {}),
    ("truncated", call_body("add_task", {"title": "t"})[:-9], {}),
    ("trailing garbage", LIST + b" xyz", {}),
    ("invalid UTF-8", call_body("add_task", {"title": "TITLE"}).replace(b"TITLE", b"\xff\xfe"), {}),
    ("UTF-8 BOM", b"\xef\xbb\xbf" + LIST, {}),
    ("JSON-RPC 1.0", LIST.replace(b'"2.0"', b'"1.0"'), {}),
    ("no method", b'{"jsonrpc": "2.0", "id": 1}', {}),
    ("unknown method", rpc("tasks/drop_all"), {}),
    ("id is an object", rpc("tools/list", id={"a": 1}), {}),
    ("arguments a list", call_body("list_tasks", [1]), {}),
    ("arguments a string", call_body("list_tasks", "x"), {}),
    ("arguments a JSON string", call_body("list_tasks", json.dumps({"status": "all"})), {}),
    ("params null", rpc("tools/call", None), {}),
    ("name missing", rpc("tools/call", {"arguments": {}}), {}),
    ("name a number", call_body(7, {}), {}),
    ("unknown tool", call_body("drop_tasks", {}), {}),
    ("tool name injection", call_body("add_task; DROP TABLE tasks", {"title": "t"}), {}),
    ("batch", b"[" + LIST + b", " + LIST + b"]", {}),
    ("duplicate keys", call_body("list_tasks", {"status": "all", "limit": "L"}).replace(b'"L"', b'5, "status": 5'), {}),
    ("user_id argument", call_body("add_task", {"title": "t", "user_id": "someone-else@example.com"}), {}),
    ("empty X-Todo-User", call_body("add_task", {"title": "t"}), {"X-Todo-User": ""}),
    ("text/plain", LIST, {"Content-Type": "text/plain"}),
    ("no Accept", LIST, {"Accept": ""}),
    ("over the size limit", rpc("tools/list", pad="x" * 17_000_000), {}),  # the server takes 16 MiB
]


@pytest.mark.parametrize(("name", "body", "headers"), BROKEN_BODIES, ids=[b[0] for b in BROKEN_BODIES])
def test_broken_requests_get_a_clean_answer(
    wire: httpx2.Client, mcp_url: str, pg: psycopg.Connection, name: str, body: bytes, headers: dict[str, str]
) -> None:
    before = snapshot(pg, []).totals
    response = post(wire, mcp_url, body, **headers)
    kind = check_answer(response, name)
    assert kind != "accepted" or b"tools/list" in body, f"{name}: a broken tools/call was carried out: {response.text}"
    assert snapshot(pg, []).totals == before, f"{name}: the request changed the database"


# The X-Todo-User header as bytes on the wire. `None`: the HTTP parser or the server must refuse it (a 4xx: the
# server's own refusal is 400, the HTTP parser's too); a string: the user it names (bytes that are not ASCII are
# ISO-8859-1 in HTTP), for which the call must act and no one else.
def b64(text: str) -> bytes:
    return b"=?base64?" + base64.b64encode(text.encode()) + b"?="


RAW_HEADERS: list[tuple[str, bytes, str | None]] = [
    ("empty", b"", None),
    ("spaces", b"   ", None),
    ("tab", b"\t", None),
    ("321 characters", b"x" * 321, None),
    ("320 characters", b"y" * 320, "y" * 320),
    ("8000 characters", b"x" * 8000, None),
    ("70000 characters", b"x" * 70_000, None),
    ("NUL", b"a\x00b", None),
    ("SOH", b"\x01", None),
    ("DEL", b"a\x7fb", None),
    ("escape", b"\x1b[2Jx", None),
    ("vertical tab", b"a\x0bb", None),
    ("bare CR", b"a\rb", None),
    (
        "folded line",
        b"wire-folded@example.com\r\n continued",
        "wire-folded@example.com continued",
    ),  # RFC 9112: one space
    ("base64 of NUL", b"=?base64?AA==?=", None),
    ("base64 broken", b"=?base64?!!?=", None),
    ("base64 not canonical", b"=?base64?eB==?=", None),
    ("base64 not UTF-8", b"=?base64?/w==?=", None),
    ("base64 of white space", b64(" \t\u3000"), None),
    ("base64 of 321 characters", b64("x" * 321), None),
    ("base64 of a line break", b64("a\nb"), None),
    ("base64 of a line separator", b64("a\u2028b"), None),
    ("base64 of an escape", b64("\x1b[2J"), None),
    ("ISO-8859-1 bytes", b"\xe9t\xe9", "été"),
    ("UTF-8 bytes", "é".encode(), "Ã©"),
    ("base64 of unicode", b64("  \u202eÜser👩\u200d👩 "), "\u202eÜser👩\u200d👩"),
]


def raw_post(port: int, user_header: bytes, body: bytes) -> tuple[int, bytes]:
    """One POST on its own socket, with this X-Todo-User value exactly as given; (status, body)."""
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + b"X-Todo-User: " + user_header + b"\r\n\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize(("name", "value", "names"), RAW_HEADERS, ids=[h[0] for h in RAW_HEADERS])
def test_raw_x_todo_user_headers_get_a_clean_answer(
    mcp_url: str, pg: psycopg.Connection, name: str, value: bytes, names: str | None
) -> None:
    """A header that names no one is refused (4xx, 400 when the server itself refuses it) before any tool runs,
    and nothing changes anywhere; one that names a user acts for exactly that user."""
    port = int(mcp_url.split(":")[2].split("/")[0])
    title = f"wire header {uuid.uuid4().hex[:8]}"
    body = call_body("add_task", {"title": title})
    before = snapshot(pg, [names] if names else [])
    status, answer = raw_post(port, value, body)
    after = snapshot(pg, [names] if names else [])
    count("wire", "raw_x_todo_user")
    assert status < 500, f"{name}: {status}: {answer[:300]!r}"
    if names is None:
        count("wire", f"x_todo_user_http_{status}")
        assert 400 <= status < 500 and status != 403, f"{name}: acted on a header that names no one: {answer[:300]!r}"
        assert after == before, f"{name}: a refused request changed the database"
        if answer.startswith(b"{"):  # the server's own refusal (the HTTP parser's is plain text)
            assert status == 400, answer
            assert json.loads(answer)["error_description"].startswith("The X-Todo-User header is not a user id"), answer
        return
    assert status == 200, f"{name}: {status}: {answer[:300]!r}"
    task = json.loads(answer)["result"]["structuredContent"]
    assert task["title"] == title
    rows = after.users[names].tasks
    assert rows[task["id"]]["title"] == title and set(rows) == set(before.users[names].tasks) | {task["id"]}, name
    assert after.totals[0] == before.totals[0] + 1, f"{name}: the call wrote more than the one task"
