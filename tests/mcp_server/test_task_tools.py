"""Every task tool's happy path and its errors, over real HTTP against real Postgres."""

import datetime as dt
from typing import Any

import pytest
from mcp import Client

from tests.support import failed, mcp_client, ok

pytestmark = pytest.mark.anyio


async def add(client: Client, **fields: Any) -> dict[str, Any]:
    return ok(await client.call_tool("add_task", fields))


async def list_all(client: Client, **filters: Any) -> dict[str, Any]:
    return ok(await client.call_tool("list_tasks", {"status": "all", **filters}))


async def test_add_task_returns_the_task_with_every_field(client: Client) -> None:
    task = await add(
        client,
        title="  send Q3 report  ",
        description="numbers from finance",
        priority="high",
        due_date="2026-11-27",
        tags=["#Work", "reports", "work"],
    )
    assert task["id"] == 1
    assert task["title"] == "send Q3 report"
    assert task["description"] == "numbers from finance"
    assert task["priority"] == "high"
    assert task["due_date"] == "2026-11-27"
    assert task["tags"] == ["work", "reports"]
    assert task["completed"] is False
    assert task["completed_at"] is None
    assert task["created_at"] == task["updated_at"]


async def test_add_task_defaults(client: Client) -> None:
    task = await add(client, title="buy milk")
    assert (task["priority"], task["due_date"], task["tags"], task["description"]) == ("medium", None, [], "")


async def test_numbers_are_per_user_and_never_reused_after_delete(client: Client, mcp_url: str, user_id: str) -> None:
    first = await add(client, title="one")
    second = await add(client, title="two")
    assert (first["id"], second["id"]) == (1, 2)
    ok(await client.call_tool("delete_task", {"task_id": 2}))
    third = await add(client, title="three")
    assert third["id"] == 3
    async with mcp_client(mcp_url, user=user_id + ".other") as other_client:
        other = await add(other_client, title="someone else's first")
    assert other["id"] == 1


async def test_list_filters_and_total(client: Client) -> None:
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    await add(client, title="pay rent", priority="high", due_date=yesterday, tags=["home"])
    await add(client, title="write report", description="Q3 numbers", tags=["work"], due_date="2099-01-01")
    await add(client, title="buy milk", priority="low")
    ok(await client.call_tool("complete_task", {"task_id": 3}))

    def titles(result: dict[str, Any]) -> list[str]:
        return [task["title"] for task in result["tasks"]]

    open_tasks = ok(await client.call_tool("list_tasks", {}))
    assert titles(open_tasks) == ["pay rent", "write report"] and open_tasks["total"] == 2
    assert titles(await list_all(client, status="done")) == ["buy milk"]
    assert titles(await list_all(client, priority="high")) == ["pay rent"]
    assert titles(await list_all(client, tag="work")) == ["write report"]
    assert titles(await list_all(client, tag="#WORK")) == ["write report"]
    assert titles(await list_all(client, due_before="2030-01-01")) == ["pay rent"]
    assert titles(await list_all(client, overdue=True)) == ["pay rent"]
    assert titles(await list_all(client, search="q3")) == ["write report"]
    assert titles(await list_all(client, search="%")) == []
    assert titles(await list_all(client, sort="priority")) == ["pay rent", "write report", "buy milk"]
    assert titles(await list_all(client, sort="due")) == ["pay rent", "write report", "buy milk"]
    page = await list_all(client, limit=1, offset=1)
    assert titles(page) == ["write report"] and page["total"] == 3
    beyond = await list_all(client, limit=5, offset=10)
    assert beyond == {"tasks": [], "total": 3}


async def test_complete_and_reopen(client: Client) -> None:
    await add(client, title="call mom")
    done = ok(await client.call_tool("complete_task", {"task_id": 1}))
    assert done["completed"] is True and done["completed_at"] is not None
    again = ok(await client.call_tool("complete_task", {"task_id": 1}))
    assert again["completed_at"] == done["completed_at"], "completing twice keeps the first completion time"
    reopened = ok(await client.call_tool("reopen_task", {"task_id": 1}))
    assert reopened["completed"] is False and reopened["completed_at"] is None


async def test_update_any_field_and_clear_due_date(client: Client) -> None:
    await add(client, title="draft", due_date="2026-12-01", tags=["a"])
    updated = ok(
        await client.call_tool(
            "update_task",
            {
                "task_id": 1,
                "title": "final",
                "description": "now with notes",
                "priority": "low",
                "due_date": "2026-12-24",
                "tags": ["b", "c"],
            },
        )
    )
    assert (updated["title"], updated["description"], updated["priority"]) == ("final", "now with notes", "low")
    assert (updated["due_date"], updated["tags"]) == ("2026-12-24", ["b", "c"])
    assert updated["updated_at"] > updated["created_at"]
    cleared = ok(await client.call_tool("update_task", {"task_id": 1, "clear_due_date": True}))
    assert cleared["due_date"] is None and cleared["title"] == "final"
    untagged = ok(await client.call_tool("update_task", {"task_id": 1, "tags": []}))
    assert untagged["tags"] == []


async def test_delete_returns_the_deleted_task(client: Client) -> None:
    await add(client, title="obsolete")
    deleted = ok(await client.call_tool("delete_task", {"task_id": 1}))
    assert deleted["deleted"] is True and deleted["task"]["title"] == "obsolete"
    assert (await list_all(client))["total"] == 0
    assert "Task 1 does not exist" in failed(await client.call_tool("delete_task", {"task_id": 1}))


BAD_ADD_ARGUMENTS = [
    ({"title": "x" * 201}, "title: String should have at most 200 characters"),
    ({"title": ""}, "title: String should have at least 1 character"),
    ({"title": "   "}, "title: String should have at least 1 character"),
    ({"title": "nul\x00byte"}, "title: Value error, must not contain control characters (found U+0000)"),
    ({"title": "bell\x07"}, "must not contain control characters"),
    ({"title": "two\nlines"}, "must be a single line"),
    ({"title": "ok", "description": "d" * 2001}, "description: String should have at most 2000 characters"),
    ({"title": "ok", "priority": "urgent"}, "priority: Input should be 'low', 'medium' or 'high'"),
    ({"title": "ok", "due_date": "next fortnight"}, "due_date: Value error, not a date: use YYYY-MM-DD or a phrase"),
    ({"title": "ok", "due_date": "2026-02-30"}, "due_date"),
    ({"title": "ok", "due_date": "x" * 41}, "due_date: String should have at most 40 characters"),
    ({"title": "ok", "tags": [f"t{i}" for i in range(11)]}, "tags: List should have at most 10 items"),
    ({"title": "ok", "tags": ["x" * 33]}, "String should have at most 32 characters"),
    ({"title": "ok", "tags": ["two words"]}, "must be one word"),
    ({"title": 42}, "title: Input should be a valid string"),
    ({"title": "ok", "tags": "work"}, "tags: Input should be a valid list"),
    ({}, "title: Field required"),
    ({"title": "one\u2028two"}, "title: Value error, must be a single line"),
    ({"title": "one\u2029two"}, "title: Value error, must be a single line"),
    ({"title": "one\x85two"}, "title: Value error, must not contain control characters (found U+0085)"),
    ({"title": "one\vtwo"}, "title: Value error, must not contain control characters (found U+000B)"),
    ({"title": "one\ftwo"}, "title: Value error, must not contain control characters (found U+000C)"),
]


@pytest.mark.parametrize(("arguments", "message"), BAD_ADD_ARGUMENTS)
async def test_bad_add_arguments_are_refused_with_a_clear_message_and_change_nothing(
    client: Client, arguments: dict[str, Any], message: str
) -> None:
    text = failed(await client.call_tool("add_task", {**arguments}))
    assert text.startswith("Invalid arguments for add_task:")
    assert message in text
    assert "Nothing was changed" in text
    assert "x" * 50 not in text, "the rejected value is not echoed back"
    assert (await list_all(client))["total"] == 0
    assert (await add(client, title="after"))["id"] == 1, "a refused call uses up no number"


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("complete_task", {"task_id": 99}, "Task 99 does not exist"),
        ("reopen_task", {"task_id": 99}, "Task 99 does not exist"),
        ("update_task", {"task_id": 99, "title": "x"}, "Task 99 does not exist"),
        ("delete_task", {"task_id": 99}, "Task 99 does not exist"),
        ("complete_task", {"task_id": "three"}, "task_id: Input should be a valid integer"),
        ("complete_task", {"task_id": 0}, "task_id: Input should be greater than or equal to 1"),
        ("complete_task", {"task_id": 10**12}, "task_id: Input should be less than or equal to"),
        ("complete_task", {}, "task_id: Field required"),
        ("update_task", {"task_id": 1, "priority": "asap"}, "priority"),
        ("update_task", {"task_id": 1, "due_date": "2026-12-01", "clear_due_date": True}, "not both"),
        ("update_task", {"task_id": 1, "title": ""}, "title: String should have at least 1 character"),
        ("list_tasks", {"status": "pending"}, "status: Input should be 'open', 'done' or 'all'"),
        ("list_tasks", {"sort": "title"}, "sort"),
        ("list_tasks", {"limit": 0}, "limit"),
        ("list_tasks", {"limit": 1000}, "limit"),
        ("list_tasks", {"offset": -1}, "offset"),
        ("list_tasks", {"due_before": "soon"}, "due_before"),
    ],
)
async def test_task_tool_errors(client: Client, tool: str, arguments: dict[str, Any], message: str) -> None:
    await add(client, title="keep me", priority="high")
    assert message in failed(await client.call_tool(tool, {**arguments}))
    [task] = (await list_all(client))["tasks"]
    assert (task["title"], task["priority"], task["completed"]) == ("keep me", "high", False)


@pytest.mark.parametrize("user_id_value", ["", "   ", None, 7, "x" * 321, "a\x00b", "someone-else@example.com"])
async def test_user_id_is_no_argument_any_more(client: Client, user_id_value: Any) -> None:
    """Who is calling comes from the credential: a user_id argument, of any value, is refused and changes nothing
    (a bad user named by the credential is refused at the HTTP layer: test_http)."""
    text = failed(await client.call_tool("add_task", {"user_id": user_id_value, "title": "t"}))
    assert "unknown argument 'user_id'" in text
    assert (await list_all(client))["total"] == 0


async def test_unknown_tool_is_a_tool_error(client: Client) -> None:
    assert "Unknown tool" in failed(await client.call_tool("drop_tables", {}))


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"title": "null"}, "null"),
        ({"title": "[1, 2]"}, "[1, 2]"),
        ({"title": "{}"}, "{}"),
    ],
)
async def test_text_that_looks_like_json_stays_text(client: Client, arguments: dict[str, Any], expected: str) -> None:
    await add(client, title="original")
    updated = ok(await client.call_tool("update_task", {"task_id": 1, **arguments}))
    assert updated["title"] == expected
    found = await list_all(client, search=expected)
    assert [t["title"] for t in found["tasks"]] == [expected]


@pytest.mark.parametrize("value", [True, False])
async def test_true_and_false_are_not_task_numbers(client: Client, value: bool) -> None:
    await add(client, title="keep open")
    message = failed(await client.call_tool("complete_task", {"task_id": value}))
    assert "task_id" in message and "true/false" in message
    assert (await list_all(client))["tasks"][0]["completed"] is False


async def test_a_tag_that_lengthens_when_lowercased_is_refused(client: Client) -> None:
    message = failed(await client.call_tool("add_task", {"title": "t", "tags": ["İ" * 17]}))
    assert "at most 32 characters" in message and "İ" not in message


async def test_an_unknown_argument_is_refused_with_the_known_names(client: Client) -> None:
    text = failed(await client.call_tool("add_task", {"title": "t", "completed": True}))
    assert text == (
        "Invalid arguments for add_task: unknown argument 'completed' (known: title, description, priority, "
        "due_date, tags, idempotency_key). Nothing was changed; fix them and retry."
    )
    assert (await list_all(client))["total"] == 0


async def test_unknown_arguments_are_named_with_the_other_problems_and_without_values(client: Client) -> None:
    await add(client, title="keep open")
    arguments = {"task_id": 0, "statuss": "done", "a_long_argument_name_" * 3: "x" * 50}
    text = failed(await client.call_tool("complete_task", arguments))
    assert text.startswith(
        "Invalid arguments for complete_task: unknown arguments 'statuss', 'a_long_argument_name_a_long_argument_na…' "
        "(known: task_id); task_id: Input should be greater than or equal to 1."
    ), text
    assert "done" not in text and "x" * 50 not in text
    assert (await list_all(client))["tasks"][0]["completed"] is False


@pytest.mark.parametrize("separator", ["\u2028", "\u2029"])
async def test_a_title_with_a_line_or_paragraph_separator_is_not_one_line(client: Client, separator: str) -> None:
    """U+2028/U+2029 start a new line in many viewers (and are whitespace, so only the inner ones count)."""
    await add(client, title="original")
    message = failed(await client.call_tool("update_task", {"task_id": 1, "title": f"a{separator}b"}))
    assert message.startswith("Invalid arguments for update_task: title: Value error, must be a single line")
    assert (await list_all(client))["tasks"][0]["title"] == "original"
    edges = await add(client, title=f"{separator}trimmed{separator}")
    assert edges["title"] == "trimmed"
