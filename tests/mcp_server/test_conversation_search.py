"""search_conversations: Postgres full-text search over the caller's conversation titles and user and assistant
messages (never tool results, never another user's), best match first, with a plain-text snippet; the last word is a
prefix. Over real HTTP against real Postgres."""

from typing import Any

import psycopg
import pytest
from mcp import Client
from mcp.shared.inbound import encode_header_value
from sqlalchemy import select

from mcp_server.models import SEARCHED_MESSAGES, Conversation, Message, search_vector
from mcp_server.store import SEARCH_QUERY, Query, search_terms
from tests.support import failed, mcp_client, ok

pytestmark = pytest.mark.anyio


async def conversation(client: Client, title: str, *messages: tuple[str, str]) -> str:
    cid = ok(await client.call_tool("create_conversation", {"title": title}))["conversation_id"]
    if messages:
        batch: list[dict[str, Any]] = [
            {"role": role, "content": content, **({"tool_call_id": "c1"} if role == "tool" else {})}
            for role, content in messages
        ]
        ok(await client.call_tool("append_messages", {"conversation_id": cid, "messages": batch}))
    return cid


async def search(client: Client, query: str, **extra: Any) -> dict[str, Any]:
    return ok(await client.call_tool("search_conversations", {"query": query, **extra}))


def ids(found: dict[str, Any]) -> list[str]:
    return [hit["conversation_id"] for hit in found["conversations"]]


@pytest.fixture
async def seeded(client: Client) -> dict[str, str]:
    """A few conversations with known texts: the Q3 report all over one of them, in passing in another."""
    return {
        "report": await conversation(
            client,
            "Q3 report",
            ("user", "add 'send Q3 report' for Friday, high priority"),
            ("assistant", "Added task 1: send Q3 report, due Friday."),
            ("user", "is the report done?"),
        ),
        "passing": await conversation(
            client,
            "Groceries",
            ("user", "add milk, eggs, bread, butter, coffee, apples and the other things from the list on the fridge"),
            ("assistant", "Added them. By the way, your report is still open."),
        ),
        "dentist": await conversation(
            client,
            "",
            ("user", "please remind me to call the dentist tomorrow"),
            ("assistant", "Added task 2: call the dentist, due tomorrow."),
            ("tool", '{"title": "secret tool output about the dentist and the quarterly figures"}'),
        ),
        "empty": await conversation(client, "Nothing here"),
    }


async def test_best_match_first_with_a_snippet(client: Client, seeded: dict[str, str]) -> None:
    found = await search(client, "report")
    assert ids(found) == [seeded["report"], seeded["passing"]], found
    assert found["total"] == 2
    best, passing = found["conversations"]
    assert best["title"] == "Q3 report" and best["rank"] > passing["rank"] > 0
    assert "«report»" in best["snippet"] and "«report»" in passing["snippet"], found
    assert "<b>" not in best["snippet"] and "\n" not in best["snippet"]
    listed = {c["conversation_id"]: c for c in ok(await client.call_tool("list_conversations", {}))["conversations"]}
    assert best["updated_at"] == listed[best["conversation_id"]]["updated_at"]


async def test_the_last_word_is_a_prefix(client: Client, seeded: dict[str, str]) -> None:
    assert ids(await search(client, "repo"))[:2] == [seeded["report"], seeded["passing"]]
    assert ids(await search(client, "call the dent")) == [seeded["dentist"]]
    assert ids(await search(client, "Q3 REPO")) == [seeded["report"]], "case does not matter"
    assert ids(await search(client, "dent call")) == [], "only the last word is a prefix"


async def test_every_word_must_match(client: Client, seeded: dict[str, str]) -> None:
    assert ids(await search(client, "send report")) == [seeded["report"]]
    assert ids(await search(client, "report dentist")) == []


async def test_titles_match_too(client: Client, seeded: dict[str, str]) -> None:
    found = await search(client, "groceries")
    assert ids(found) == [seeded["passing"]]
    assert found["conversations"][0]["snippet"] == "«Groceries»", "no message matches: the title is the snippet"
    assert ids(await search(client, "nothing")) == [seeded["empty"]]


async def test_an_automatic_title_is_searched(client: Client, seeded: dict[str, str]) -> None:
    [hit] = (await search(client, "dentist"))["conversations"]
    assert (hit["conversation_id"], hit["title"]) == (seeded["dentist"], "Call the dentist")


async def test_tool_results_are_not_searched(client: Client, seeded: dict[str, str]) -> None:
    assert (await search(client, "quarterly figures")) == {"conversations": [], "total": 0}
    assert (await search(client, "secret")) == {"conversations": [], "total": 0}


async def test_no_match_is_an_empty_list(client: Client, seeded: dict[str, str]) -> None:
    assert (await search(client, "zebra")) == {"conversations": [], "total": 0}


async def test_limit_is_respected_and_total_counts_all(client: Client) -> None:
    made = [await conversation(client, f"standup {i}", ("user", "notes from the standup")) for i in range(5)]
    found = await search(client, "standup", limit=2)
    assert len(found["conversations"]) == 2 and found["total"] == 5
    assert set(ids(found)) <= set(made)
    assert len((await search(client, "standup"))["conversations"]) == 5
    assert "limit: Input should be less than or equal to 200" in failed(
        await client.call_tool("search_conversations", {"query": "standup", "limit": 201})
    )


@pytest.mark.parametrize(
    "query",
    [
        "a & b",
        "'",
        "''",
        ":*",
        "!",
        "(",
        ")",
        "report & !",
        "report:*",
        "report | dentist",
        "!report",
        "<->",
        "report <-> send",
        "\\",
        "report\\",
        "'; DROP TABLE messages; --",
        "' OR '1'='1",
        "%",
        "_",
        "*",
        "report'",
        "“report”",
        "report:A",
        "report:*:*",
        "a" * 200,
        "é ü 中文 🔥",
    ],
)
async def test_tsquery_and_sql_syntax_is_just_text(client: Client, seeded: dict[str, str], query: str) -> None:
    found = await search(client, query)
    assert set(ids(found)) <= set(seeded.values()), found
    listed = ok(await client.call_tool("list_conversations", {}))
    assert listed["total"] == len(seeded), "nothing changed"


async def test_operators_are_words_not_operators(client: Client, seeded: dict[str, str]) -> None:
    assert ids(await search(client, "report & !")) == ids(await search(client, "report"))
    assert ids(await search(client, "!report")) == ids(await search(client, "report")), "not a negation"
    assert ids(await search(client, "report | dentist")) == [], "not an or: both words must match"
    assert ids(await search(client, "'report'")) == ids(await search(client, "report"))


@pytest.mark.parametrize("query", ["", " ", "\t\n ", "\u3000"])
async def test_an_empty_query_is_refused_with_a_sentence(client: Client, query: str) -> None:
    message = failed(await client.call_tool("search_conversations", {"query": query}))
    assert message == (
        "Invalid arguments for search_conversations: query: Value error, must not be empty: send one or more words "
        "to look for. Nothing was changed; fix them and retry."
    )


async def test_a_query_over_the_limit_or_with_control_characters_is_refused(client: Client) -> None:
    assert "query: String should have at most 200 characters" in failed(
        await client.call_tool("search_conversations", {"query": "x" * 201})
    )
    assert "control characters" in failed(await client.call_tool("search_conversations", {"query": "a\x00b"}))


async def test_another_users_conversations_are_never_found(
    client: Client, seeded: dict[str, str], mcp_url: str, user_id: str
) -> None:
    strangers = [
        f"other-{user_id}",
        user_id.upper(),
        user_id + "\u200b",
        user_id.replace("@", "＠"),
        "%",
        "' OR '1'='1",
    ]
    for other in strangers:
        async with mcp_client(mcp_url, user=encode_header_value(other)) as intruder:
            for query in ("report", "repo", "dentist", "groceries", "nothing", "a", "'"):
                nothing = ok(await intruder.call_tool("search_conversations", {"query": query}))
                assert nothing == {"conversations": [], "total": 0}, (other, query)
    async with mcp_client(mcp_url, user=f"other-{user_id}") as other_user:
        own = await conversation(other_user, "my report", ("user", "the report, mine"))
        assert ids(await search(other_user, "report")) == [own]
    assert own not in ids(await search(client, "report")), "and the other way round"


async def test_a_deleted_conversation_is_not_found(client: Client, seeded: dict[str, str]) -> None:
    ok(await client.call_tool("delete_conversation", {"conversation_id": seeded["report"]}))
    assert ids(await search(client, "report")) == [seeded["passing"]]


async def test_a_renamed_conversation_is_found_by_its_new_title(client: Client, seeded: dict[str, str]) -> None:
    ok(await client.call_tool("rename_conversation", {"conversation_id": seeded["empty"], "title": "Holiday plans"}))
    assert ids(await search(client, "holiday")) == [seeded["empty"]]
    assert ids(await search(client, "nothing")) == []


@pytest.mark.parametrize(
    ("table", "index"), [("conversations", "ix_conversations_search"), ("messages", "ix_messages_search")]
)
def test_the_search_conditions_are_the_indexes_own(pg: psycopg.Connection, table: str, index: str) -> None:
    """The conditions search_conversations matches with, compiled as it runs them (the words a bound parameter,
    planned without knowing them, as a prepared statement is), can use the GIN indexes of migration 0004: the text
    search configuration and the roles are written into the SQL, as in the indexes' definitions."""
    matches = {
        "conversations": select(Conversation.id).where(search_vector(Conversation.title).op("@@")(SEARCH_QUERY)),
        "messages": select(Message.id).where(SEARCHED_MESSAGES, search_vector(Message.content).op("@@")(SEARCH_QUERY)),
    }
    query = Query(matches[table])
    with pg.transaction(), pg.cursor() as cur:
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        plan = cur.execute("EXPLAIN " + query.sql, {**query.constants, "tsquery": search_terms("report")}).fetchall()
    assert f"Bitmap Index Scan on {index}" in "\n".join(row[0] for row in plan), plan
