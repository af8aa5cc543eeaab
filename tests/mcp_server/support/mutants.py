"""Fault injection for the reliability tests themselves: every test must be able to fail.

Each mutant is one small fault put into a copy of the server (the committed tree, exported with `git archive`,
so the working tree and the repository are left alone); the tests meant to catch it run against the copy and
must fail. Run from the repository root:

    .venv/bin/python -m tests.mcp_server.support.mutants            # all of them (about 15 minutes)
    .venv/bin/python -m tests.mcp_server.support.mutants "reopen"   # those whose name contains "reopen"

It prints one Markdown table row per mutant (docs/reliability.md quotes a run). A mutant whose text is no
longer in the source is reported as "stale": update its pattern when the server changes.
"""

import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[3]
R = "tests/mcp_server/"
PROP = R + "test_properties.py::test_every_call_succeeds_as_specified_or_is_refused_cleanly"
SWEEP = R + "test_properties.py::test_list_tasks_every_status_sort_filter_and_page"
CORPUS = R + "test_properties.py::test_every_tricky_text_in_every_text_argument"
UPDATES = R + "test_properties.py::test_update_task_every_combination_of_fields"
READS = R + "test_properties.py::test_conversations_read_with_every_limit_and_page"
KEYS = R + "test_properties.py::test_append_messages_with_every_key_and_recent"
ISO = R + "test_isolation.py::"
CON = R + "test_concurrency.py::"
REG = R + "test_regressions.py"
MCP = "tests/mcp_server/"
WIRE = R + "test_wire.py::"
STORE, TOOLS, SERVER, SCHEMAS, AUTH, TOKENS, TITLES = (
    "mcp_server/store.py",
    "mcp_server/tools.py",
    "mcp_server/server.py",
    "contract/schemas.py",
    "mcp_server/auth.py",
    "mcp_server/tokens.py",
    "contract/titles.py",
)
SEARCH = R + "test_conversation_search.py::"
HEADERS = R + "test_properties.py::test_a_header_that_names_no_one_is_refused_for_every_tool"
HEADER_CORPUS = R + "test_properties.py::test_every_tricky_text_as_the_x_todo_user_header"
PAT_FLOOR = ISO + "test_a_personal_token_never_reaches_another_users_data"
PAT_PROPERTY = ISO + "test_whatever_a_personal_token_sends_it_reaches_nothing_of_another_user"
TOKEN_ISO = ISO + "test_access_tokens_of_another_user_answer_exactly_like_missing_ones"


class Mutant(NamedTuple):
    name: str
    path: str
    old: str
    new: str
    tests: list[str]


MUTANTS = [
    # Normalisation and validation
    Mutant(
        "tags not lowercased",
        SCHEMAS,
        'value.strip().lstrip("#").lower()',
        'value.strip().lstrip("#")',
        [PROP + "[add_task]"],
    ),
    Mutant(
        "tags not lowercased (update)",
        SCHEMAS,
        'value.strip().lstrip("#").lower()',
        'value.strip().lstrip("#")',
        [PROP + "[update_task]"],
    ),
    Mutant("tags not deduplicated", SCHEMAS, "return list(dict.fromkeys(tags))", "return tags", [PROP + "[add_task]"]),
    Mutant(
        "titles not stripped",
        SCHEMAS,
        "StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_LENGTH),\n    AfterValidator(_printable),",
        "StringConstraints(min_length=1, max_length=TITLE_LENGTH),\n    AfterValidator(_printable),",
        [CORPUS + "[add_task-0]"],
    ),
    Mutant(
        "NUL allowed in titles",
        SCHEMAS,
        "StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_LENGTH),\n    AfterValidator(_printable),\n",
        "StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_LENGTH),\n",
        [CORPUS + "[add_task-0]"],
    ),
    Mutant(
        "NUL allowed in descriptions",
        SCHEMAS,
        "    StringConstraints(max_length=DESCRIPTION_LENGTH),\n    AfterValidator(_printable),",
        "    StringConstraints(max_length=DESCRIPTION_LENGTH),",
        [WIRE + "test_raw_values_in_every_argument_get_a_clean_answer"],
    ),
    Mutant(
        "refusals name no field",
        SERVER,
        'field = ".".join(str(part) for part in item["loc"]) or "arguments"',
        'field = "arguments"',
        [PROP + "[complete_task]"],
    ),
    Mutant(
        "unknown tool runs add_task",
        SERVER,
        "        started = time.perf_counter()\n",
        "        started = time.perf_counter()\n        name = name if self._tool_manager.get_tool(name) else 'add_task'\n",
        [WIRE + "test_broken_requests_get_a_clean_answer"],
    ),
    # Listing
    Mutant(
        "search not escaped",
        STORE,
        '"%" + search.replace("\\\\", "\\\\\\\\").replace("%", "\\\\%").replace("_", "\\\\_") + "%"',
        '"%" + search + "%"',
        [SWEEP],
    ),
    Mutant(
        "due sort puts undated first",
        STORE,
        '"due": [Task.due_date.asc().nulls_last(), Task.number],',
        '"due": [Task.due_date.asc().nulls_first(), Task.number],',
        [SWEEP],
    ),
    Mutant(
        "priority sort wrong",
        STORE,
        'case({"high": 0, "medium": 1, "low": 2}, value=Task.priority)',
        'case({"high": 0, "medium": 2, "low": 1}, value=Task.priority)',
        [SWEEP],
    ),
    Mutant(
        "overdue includes done tasks",
        STORE,
        'query.where(Task.due_date < bindparam("today", type_=Date), Task.completed.is_(False))',
        'query.where(Task.due_date < bindparam("today", type_=Date))',
        [SWEEP],
    ),
    Mutant(
        "total counts the page only",
        STORE,
        "return [task_out(row) for row in rows], rows[0].total",
        "return [task_out(row) for row in rows], len(rows)",
        [SWEEP],
    ),
    Mutant(
        "list ignores the user",
        STORE,
        '.label("total")).where(Task.user_id == bindparam("user_id"))',
        '.label("total")).where(Task.user_id != bindparam("user_id") + "x")',
        [PROP + "[list_tasks]", ISO + "test_listing_with_every_filter_shows_only_the_users_own_tasks"],
    ),
    # Writing tasks
    Mutant(
        "result reports completed_at wrong",
        STORE,
        "        completed_at=row.completed_at,\n    )",
        "        completed_at=row.updated_at,\n    )",
        [PROP + "[add_task]"],
    ),
    Mutant(
        "reopen keeps completed_at",
        STORE,
        ".values(completed=False, completed_at=None, updated_at=func.now())",
        ".values(completed=False, updated_at=func.now())",
        [PROP + "[reopen_task]", CON + "test_racing_changes_to_one_task_leave_it_consistent"],
    ),
    Mutant(
        "refused update still writes",
        TOOLS,
        "        if clear_due_date and due_date is not None:\n            raise InvalidArguments(",
        "        if clear_due_date and due_date is not None:\n            async with db.connection() as conn:\n"
        '                await store.update_task(conn, caller(ctx).user_id, task_id, {"due_date": due_date})\n'
        "            raise InvalidArguments(",
        [UPDATES],
    ),
    Mutant(
        "delete takes later tasks too",
        STORE,
        "DELETE_TASK = Query(delete(Task).where(*OWN_TASK).returning(*TASK_COLUMNS))",
        'DELETE_TASK = Query(delete(Task).where(Task.user_id == bindparam("user_id"), '
        'Task.number >= bindparam("number")).returning(*TASK_COLUMNS))',
        [PROP + "[delete_task]"],
    ),
    # Conversations
    Mutant(
        "conversation titles cut at 60",
        TITLES,
        "CONVERSATION_TITLE_LENGTH: Final = 80",
        "CONVERSATION_TITLE_LENGTH: Final = 60",
        [PROP + "[create_conversation]", PROP + "[rename_conversation]"],
    ),
    Mutant(
        "rename touches updated_at",
        STORE,
        '    .values(title=bindparam("title", type_=String))\n',
        '    .values(title=bindparam("title", type_=String), updated_at=func.now())\n',
        [PROP + "[rename_conversation]"],
    ),
    Mutant(
        "search without prefixes",
        STORE,
        '    values[-1] += ":*"\n',
        "",
        [SEARCH + "test_the_last_word_is_a_prefix"],
    ),
    Mutant(
        "search reads tool results",
        STORE,
        "        SEARCHED_MESSAGES,\n",
        "",
        [SEARCH + "test_tool_results_are_not_searched"],
    ),
    Mutant(
        "conversations listed oldest first",
        STORE,
        ".order_by(Conversation.updated_at.desc(), Conversation.created_at.desc())",
        ".order_by(Conversation.updated_at.asc(), Conversation.created_at.asc())",
        [PROP + "[list_conversations]", READS],
    ),
    Mutant(
        "messages read newest first",
        STORE,
        "ALL_MESSAGES = Query(select(*MESSAGE_COLUMNS).where(OF_CONVERSATION).order_by(Message.id))",
        "ALL_MESSAGES = Query(select(*MESSAGE_COLUMNS).where(OF_CONVERSATION).order_by(Message.id.desc()))",
        [PROP + "[get_conversation]"],
    ),
    Mutant(
        "most recent N in the wrong order",
        STORE,
        "limit=limit)).all()[::-1]",
        "limit=limit)).all()",
        [READS],
    ),
    Mutant(
        "messages stored reversed",
        STORE,
        "        .order_by(_batch.c.position),",
        "        .order_by(_batch.c.position.desc()),",
        [PROP + "[append_messages]"],
    ),
    Mutant(
        "delete_conversation deletes nothing",
        STORE,
        "    if (await DELETE_CONVERSATION.run(conn, conversation_id=conversation_id, user_id=user_id)).first() is None:",
        "    if (await CONVERSATION.run(conn, conversation_id=conversation_id, user_id=user_id)).first() is None:",
        [PROP + "[delete_conversation]"],
    ),
    # Isolation
    Mutant(
        "another user's task answers differently",
        STORE,
        "    row = (await TASK_BY_NUMBER.run(conn, user_id=user_id, number=number)).first()\n    if row is None:\n"
        "        raise task_not_found(number)",
        "    row = (await TASK_BY_NUMBER.run(conn, user_id=user_id, number=number)).first()\n    if row is None:\n"
        "        if await (await conn.execute('select 1 from tasks where number = %(n)s', {'n': number})).fetchone():\n"
        "            raise NotFound(f'Task {number} does not exist. Call list_tasks to see the task numbers. ')\n"
        "        raise task_not_found(number)",
        [ISO + "test_task_numbers_of_another_user_answer_exactly_like_missing_ones"],
    ),
    Mutant(
        "idempotency keys shared across users",
        STORE,
        'Task.user_id == bindparam("user_id"), Task.idempotency_key == bindparam("key")',
        'Task.user_id != bindparam("user_id") + "", Task.idempotency_key == bindparam("key")',
        [ISO + "test_task_numbers_of_another_user_answer_exactly_like_missing_ones"],
    ),
    Mutant(
        "any user deletes a conversation",
        STORE,
        "DELETE_CONVERSATION = Query(delete(Conversation).where(*OWN_CONVERSATION)",
        'DELETE_CONVERSATION = Query(delete(Conversation).where(Conversation.id == bindparam("conversation_id"), '
        'Conversation.user_id != bindparam("user_id") + "")',
        [ISO + "test_conversations_of_another_user_answer_exactly_like_missing_ones"],
    ),
    Mutant(
        "missing-task sentence varies with the number",
        STORE,
        '    return NotFound(f"Task {number} does not exist. Call list_tasks to see the task numbers.")',
        '    return NotFound(f"Task {number} does not exist." + (" Call list_tasks to see the task numbers."'
        " if number < 10**6 else ''))",
        [ISO + "test_random_ids_answer_like_missing_ones"],
    ),
    Mutant(
        "task lookups ignore the user",
        STORE,
        'OWN_TASK = (Task.user_id == bindparam("user_id"), Task.number == bindparam("number"))',
        'OWN_TASK = (Task.user_id != bindparam("user_id") + "x", Task.number == bindparam("number"))',
        [ISO + "test_task_numbers_of_another_user_answer_exactly_like_missing_ones", PAT_PROPERTY],
    ),
    Mutant(
        "conversation lookups ignore the user",
        STORE,
        'OWN_CONVERSATION = (Conversation.id == bindparam("conversation_id"), Conversation.user_id == bindparam("user_id"))',
        'OWN_CONVERSATION = (Conversation.id == bindparam("conversation_id"), Conversation.user_id != bindparam("user_id") + "x")',
        [ISO + "test_conversations_of_another_user_answer_exactly_like_missing_ones", PAT_PROPERTY],
    ),
    # Who is calling (e1c1306): the credential, and the X-Todo-User header that goes with the service token
    Mutant(
        "personal token honours X-Todo-User",
        AUTH,
        "        if named_user is not None:\n            return NAMES_USER",
        "        if named_user is not None:\n            return self._for_named_user(named_user)",
        [PAT_FLOOR, PAT_PROPERTY],
    ),
    Mutant(
        "personal token acts for a fixed user",
        AUTH,
        'found = Caller(row.user_id, "personal", row.id)',
        'found = Caller("personal-tokens@example.com", "personal", row.id)',
        [PAT_FLOOR, ISO + "test_listing_with_every_filter_shows_only_the_users_own_tasks"],
    ),
    Mutant(
        "any todo_pat_ token acts for the newest token's owner",
        TOKENS,
        '        PersonalToken.token_hash == bindparam("token_hash"), *ACTIVE\n    )\n)',
        '        PersonalToken.token_hash != bindparam("token_hash"), *ACTIVE\n    ).order_by(PersonalToken.created_at.desc()).limit(1)\n)',
        [PAT_FLOOR, TOKEN_ISO],
    ),
    Mutant(
        "service token without X-Todo-User acts for a default user",
        AUTH,
        "        if named_user is None:\n            return NO_USER",
        '        if named_user is None:\n            named_user = "anonymous@example.com"',
        [HEADERS],
    ),
    Mutant(
        "X-Todo-User not checked",
        AUTH,
        'return Caller(user_id(decode_header_value(named_user) or ""), "service")',
        'return Caller(decode_header_value(named_user) or "", "service")',
        [HEADERS, WIRE + "test_raw_x_todo_user_headers_get_a_clean_answer", PROP + "[list_tasks]"],
    ),
    Mutant(
        "X-Todo-User not stripped",
        SCHEMAS,
        "    user = value.strip()\n    if not 1 <= len(user) <= USER_ID_LENGTH:",
        "    user = value\n    if not 1 <= len(user) <= USER_ID_LENGTH:",
        [HEADER_CORPUS],
    ),
    Mutant(
        "personal tokens may call the credential's tools",
        SERVER,
        "        if context is None or not caller(context).signed_in:",
        "        if context is None:",
        [PAT_FLOOR, PAT_PROPERTY],
    ),
    Mutant(
        "credential's tools listed for personal tokens",
        SERVER,
        "        if who is not None and who.signed_in:\n            return tools",
        "        if who is not None:\n            return tools",
        [PAT_FLOOR],
    ),
    Mutant(
        "any user revokes a token",
        TOKENS,
        '    .where(PersonalToken.id == bindparam("token_id"), PersonalToken.user_id == bindparam("user_id"), *ACTIVE)',
        '    .where(PersonalToken.id == bindparam("token_id"), *ACTIVE)',
        [TOKEN_ISO],
    ),
    Mutant(
        "tokens listed for every user",
        TOKENS,
        '    .where(PersonalToken.user_id == bindparam("user_id"), *ACTIVE)\n    .order_by',
        "    .where(*ACTIVE)\n    .order_by",
        [TOKEN_ISO],
    ),
    Mutant(
        "a revoked token works on until the cache expires",
        TOOLS,
        "        authenticator.forget(hashed)\n",
        "",
        [PAT_FLOOR],
    ),
    # Concurrency
    Mutant(
        "task number from max()+1",
        STORE,
        "            _counter.c.last_task_number,\n",
        "            select(func.coalesce(func.max(Task.number), 0) + 1)"
        ".where(Task.user_id == bindparam('user_id', type_=String)).scalar_subquery(),\n",
        [CON + "test_200_concurrent_adds_across_10_users_lose_nothing"],
    ),
    Mutant(
        "delete answers from a stale read",
        STORE,
        "    row = (await DELETE_TASK.run(conn, user_id=user_id, number=number)).first()\n",
        "    row = (await TASK_BY_NUMBER.run(conn, user_id=user_id, number=number)).first()\n"
        "    await DELETE_TASK.run(conn, user_id=user_id, number=number)\n",
        [CON + "test_racing_changes_to_one_task_leave_it_consistent"],
    ),
    Mutant(
        "appends without the row lock",
        STORE,
        "query = CONVERSATION_FOR_UPDATE if for_update else CONVERSATION",
        "query = CONVERSATION",
        [
            CON + "test_concurrent_appends_to_one_conversation_keep_every_message_once_in_order",
            MCP + "test_concurrency.py::test_twenty_concurrent_appends_with_one_key_store_one_batch",
        ],
    ),
    Mutant(
        "append keys ignored",
        STORE,
        "_first_time = select(_earlier.c.size).scalar_subquery() == 0",
        "_first_time = select(_earlier.c.size).scalar_subquery() >= 0",
        [KEYS, PROP + "[append_messages]"],
    ),
    Mutant(
        "append keys shared across conversations",
        STORE,
        '    .where(OF_CONVERSATION, Message.idempotency_key == bindparam("idempotency_key"))',
        '    .where(Message.idempotency_key == bindparam("idempotency_key"))',
        [KEYS, PROP + "[append_messages]"],
    ),
    Mutant(
        "recent messages newest first",
        TOOLS,
        "await store.recent_messages(conn, conversation_id, recent) if recent",
        "(await store.recent_messages(conn, conversation_id, recent))[::-1] if recent",
        [KEYS, PROP + "[append_messages]"],
    ),
    # The fixes of a13a3a3, undone one at a time: their regression tests must fail
    Mutant(
        "undo: conversation titles checked",
        SCHEMAS,
        "    StringConstraints(strip_whitespace=True, max_length=TITLE_LENGTH),\n    AfterValidator(_printable),\n",
        "    StringConstraints(strip_whitespace=True, max_length=TITLE_LENGTH),\n",
        [REG, PROP + "[create_conversation]"],
    ),
    Mutant(
        "undo: tag length after lowercasing",
        SCHEMAS,
        "    if len(tag) > TAG_LENGTH:",
        "    if False:",
        [REG, PROP + "[add_task]"],
    ),
    Mutant(
        "undo: true/false not numbers",
        SCHEMAS,
        "    NotBool,\n]\nConversationTitle",
        "]\nConversationTitle",
        [REG],
    ),
    Mutant("undo: JSON-looking text stays text", SERVER, "    keep_text_as_text(mcp)\n", "", [REG, CORPUS]),
    Mutant(
        "undo: tool calls jsonb-safe",
        SCHEMAS,
        "    function: Annotated[dict[str, Any], AfterValidator(_json_safe)]",
        "    function: dict[str, Any]",
        [REG, WIRE + "test_raw_values_in_every_argument_get_a_clean_answer"],
    ),
    Mutant(
        "undo: call ids checked",
        SCHEMAS,
        "CallId = Annotated[str, StringConstraints(min_length=1, max_length=CALL_ID_LENGTH), AfterValidator(_printable)]",
        "CallId = Annotated[str, StringConstraints(min_length=1, max_length=CALL_ID_LENGTH)]",
        [REG],
    ),
    Mutant(
        "undo: tag refusal without the tag",
        SCHEMAS,
        'raise ValueError("each tag must be one word (no spaces)")',
        'raise ValueError(f"tag {tag!r} must be one word (no spaces)")',
        [REG],
    ),
    Mutant("undo: 16 MiB requests", SERVER, "        max_request_body_size=MAX_REQUEST_BYTES,\n", "", [REG]),
    # The fixes of server-work, undone one at a time
    Mutant(
        "undo: unknown arguments refused",
        SERVER,
        "    refuse_unknown_arguments(mcp)\n",
        "",
        [R + "test_properties.py::test_unknown_arguments_are_refused_and_change_nothing", PROP + "[add_task]"],
    ),
    Mutant(
        "undo: tool call size limit",
        SCHEMAS,
        "        if self._json_length > MESSAGE_LENGTH:",
        "        if False:",
        [REG],
    ),
    Mutant("undo: batch size limit", SCHEMAS, "    if size > BATCH_LENGTH:", "    if False:", [REG]),
    Mutant(
        "undo: line separators end a line",
        SCHEMAS,
        'LINE_BREAKS = frozenset("\\n\\r\\v\\f\\x1c\\x1d\\x1e\\x85\\u2028\\u2029")',
        'LINE_BREAKS = frozenset("\\n\\r")',
        [CORPUS, MCP + "test_task_tools.py", MCP + "test_conversation_tools.py"],
    ),
]


def export_head(target: Path) -> None:
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True, capture_output=True).stdout
    with tempfile.TemporaryFile() as file:
        file.write(archive)
        file.seek(0)
        with tarfile.open(fileobj=file) as tar:
            tar.extractall(target, filter="data")


def run(mutant: Mutant, base: Path, work: Path) -> str:
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(base, work)
    shutil.copytree(
        ROOT / R, work / R, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "node_modules")
    )
    target = work / mutant.path
    source = target.read_text()
    if source.count(mutant.old) != 1:
        return f"| {mutant.name} | `{mutant.path}` | | stale: pattern found {source.count(mutant.old)} times |"
    target.write_text(source.replace(mutant.old, mutant.new))
    started = time.monotonic()
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=no", *mutant.tests]
    done = subprocess.run(command, cwd=work, capture_output=True, text=True)
    failed = [line.split("::")[-1] for line in done.stdout.splitlines() if line.startswith("FAILED")]
    verdict = f"caught: {len(failed)} failed" if done.returncode == 1 and failed else f"MISSED (exit {done.returncode})"
    shown = ", ".join(f"`{name}`" for name in failed[:3]) + (" …" if len(failed) > 3 else "")
    return f"| {mutant.name} | `{mutant.path}` | {shown} | {verdict} ({time.monotonic() - started:.0f} s) |"


def main(selection: list[str]) -> int:
    chosen = [m for m in MUTANTS if not selection or any(s in m.name for s in selection)]
    missed = 0
    with tempfile.TemporaryDirectory(prefix="mutants-") as folder:
        base, work = Path(folder) / "base", Path(folder) / "work"
        export_head(base)
        print("| fault injected | file | tests that failed | result |\n|---|---|---|---|", flush=True)
        for mutant in chosen:
            row = run(mutant, base, work)
            missed += "caught" not in row
            print(row, flush=True)
    print(f"\n{len(chosen) - missed} of {len(chosen)} faults caught", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
