"""Database access for the tools: small async functions that take a connection (mcp_server/db.py) and one user's id.

Every statement is written once in SQLAlchemy Core against the mapped tables and compiled once per shape
(`Query`); a call only binds parameters and runs the SQL through psycopg (which prepares it on the server after a
few runs). SQLAlchemy's per-execution work (cache key, compile cache lookup, result processing) was about 60% of a
tool call's server CPU; see docs/performance.md. The connections are in autocommit mode, so each statement commits
on its own: every write here is one statement, but append_messages, which runs in the transaction its tool opens.
"""

import datetime as dt
import uuid
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import (
    BigInteger,
    Date,
    Executable,
    String,
    Text,
    any_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID, aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert

from contract.schemas import (
    ConversationHit,
    ConversationOut,
    MessageIn,
    MessageOut,
    Priority,
    SortKey,
    Status,
    TaskOut,
)
from contract.titles import cut_at_word, one_line, title_from
from mcp_server.db import Connection
from mcp_server.errors import NotFound
from mcp_server.models import (
    SEARCH_CONFIG,
    SEARCHED_MESSAGES,
    Conversation,
    Message,
    Task,
    UserCounter,
    search_vector,
)

DIALECT = postgresql.psycopg.dialect()  # type: ignore[attr-defined]


Row = Any  # a named tuple: a column's value is the attribute of its name


class Rows:
    """What a statement returned, read in full."""

    def __init__(self, rows: list[Row]):
        self.rows = rows

    def all(self) -> list[Row]:
        return self.rows

    def first(self) -> Row | None:
        return self.rows[0] if self.rows else None

    def one(self) -> Row:
        if len(self.rows) != 1:
            raise LookupError(f"expected one row, the statement returned {len(self.rows)}")
        return self.rows[0]

    def scalar_one(self) -> Any:
        return self.one()[0]


class Query:
    """A Core statement compiled once; `run` binds named parameters and executes it through the driver."""

    def __init__(self, statement: Executable):
        compiled = statement.compile(dialect=DIALECT)
        self.sql = str(compiled)
        # Values written into the statement itself (literals, None); the named bindparams come with each run.
        self.constants = {
            name: compiled.params[name] for bind, name in compiled.bind_names.items() if not bind.required
        }

    async def run(self, conn: Connection, **params: Any) -> Rows:
        cursor = await conn.execute(self.sql, {**self.constants, **params})
        return Rows(await cursor.fetchall() if cursor.description is not None else [])


def task_not_found(number: int) -> NotFound:
    return NotFound(f"Task {number} does not exist. Call list_tasks to see the task numbers.")


def conversation_not_found(conversation_id: uuid.UUID) -> NotFound:
    return NotFound(f"Conversation {conversation_id} does not exist. Start a new conversation.")


# Tasks

TASK_COLUMNS = (
    Task.number,
    Task.title,
    Task.description,
    Task.priority,
    Task.due_date,
    Task.tags,
    Task.completed,
    Task.created_at,
    Task.updated_at,
    Task.completed_at,
)
OWN_TASK = (Task.user_id == bindparam("user_id"), Task.number == bindparam("number"))


def task_out(row: Row) -> TaskOut:
    return TaskOut(
        id=row.number,
        title=row.title,
        description=row.description,
        priority=row.priority,
        due_date=row.due_date,
        tags=row.tags,
        completed=row.completed,
        created_at=row.created_at,
        updated_at=row.updated_at,
        completed_at=row.completed_at,
    )


# The counter upsert takes a row lock on the user's counter, so concurrent adds get distinct numbers, and a
# rolled-back add gives its number back; a committed one is never handed out again. One round trip.
_counter = (
    pg_insert(UserCounter)
    .values(user_id=bindparam("user_id"), last_task_number=1)
    .on_conflict_do_update(
        index_elements=[UserCounter.user_id], set_={"last_task_number": UserCounter.last_task_number + 1}
    )
    .returning(UserCounter.last_task_number)
    .cte("counter")
)
INSERT_TASK = Query(
    insert(Task)
    .from_select(
        ["user_id", "number", "title", "description", "priority", "due_date", "tags", "idempotency_key"],
        select(
            bindparam("user_id", type_=String),
            _counter.c.last_task_number,
            bindparam("title", type_=String),
            bindparam("description", type_=String),
            bindparam("priority", type_=String),
            cast(bindparam("due_date"), Date),
            cast(bindparam("tags"), ARRAY(String)),
            bindparam("idempotency_key", type_=String),
        ),
    )
    .returning(*TASK_COLUMNS)
)
TASK_BY_KEY = Query(
    select(*TASK_COLUMNS).where(Task.user_id == bindparam("user_id"), Task.idempotency_key == bindparam("key"))
)
TASK_BY_NUMBER = Query(select(*TASK_COLUMNS).where(*OWN_TASK))
COMPLETE = Query(
    update(Task)
    .where(*OWN_TASK, Task.completed.is_(False))
    .values(completed=True, completed_at=func.now(), updated_at=func.now())
    .returning(*TASK_COLUMNS)
)
REOPEN = Query(
    update(Task)
    .where(*OWN_TASK, Task.completed.is_(True))
    .values(completed=False, completed_at=None, updated_at=func.now())
    .returning(*TASK_COLUMNS)
)
DELETE_TASK = Query(delete(Task).where(*OWN_TASK).returning(*TASK_COLUMNS))
UPDATABLE = {
    "title": Task.title,
    "description": Task.description,
    "priority": Task.priority,
    "due_date": Task.due_date,
    "tags": Task.tags,
}


async def add_task(
    conn: Connection,
    user_id: str,
    *,
    title: str,
    description: str,
    priority: Priority,
    due_date: dt.date | None,
    tags: list[str],
    idempotency_key: str | None,
) -> TaskOut:
    values = {
        "user_id": user_id,
        "title": title,
        "description": description,
        "priority": priority,
        "due_date": due_date,
        "tags": tags,
        "idempotency_key": idempotency_key,
    }
    if idempotency_key is None:
        return task_out((await INSERT_TASK.run(conn, **values)).one())
    existing = (await TASK_BY_KEY.run(conn, user_id=user_id, key=idempotency_key)).first()
    if existing is not None:
        return task_out(existing)
    try:
        return task_out((await INSERT_TASK.run(conn, **values)).one())
    except psycopg.IntegrityError:
        # A concurrent retry with the same key committed first: answer with its task.
        existing = (await TASK_BY_KEY.run(conn, user_id=user_id, key=idempotency_key)).first()
        if existing is None:
            raise
        return task_out(existing)


PRIORITY_RANK = case({"high": 0, "medium": 1, "low": 2}, value=Task.priority)
SORT_ORDER: dict[str, Sequence[Any]] = {
    "created": [Task.number],
    "due": [Task.due_date.asc().nulls_last(), Task.number],
    "priority": [PRIORITY_RANK, Task.number],
}


@lru_cache(maxsize=512)
def list_query(
    status: Status, priority: bool, tag: bool, due_before: bool, overdue: bool, search: bool, sort: SortKey
) -> tuple[Query, Query]:
    """The page query and the count query for one combination of filters (which filters, not their values)."""
    query = select(*TASK_COLUMNS, func.count().over().label("total")).where(Task.user_id == bindparam("user_id"))
    if status == "open":
        query = query.where(Task.completed.is_(False))
    elif status == "done":
        query = query.where(Task.completed.is_(True))
    if priority:
        query = query.where(Task.priority == bindparam("priority"))
    if tag:
        query = query.where(bindparam("tag", type_=String) == any_(Task.tags))
    if due_before:
        query = query.where(Task.due_date < bindparam("due_before", type_=Date))
    if overdue:
        query = query.where(Task.due_date < bindparam("today", type_=Date), Task.completed.is_(False))
    if search:
        pattern = bindparam("pattern", type_=String)
        query = query.where(or_(Task.title.ilike(pattern, escape="\\"), Task.description.ilike(pattern, escape="\\")))
    page = query.order_by(*SORT_ORDER[sort]).limit(bindparam("limit")).offset(bindparam("offset"))
    return Query(page), Query(select(func.count()).select_from(query.subquery()))


async def list_tasks(
    conn: Connection,
    user_id: str,
    *,
    status: Status,
    priority: Priority | None,
    tag: str | None,
    due_before: dt.date | None,
    overdue: bool,
    today: dt.date,
    search: str | None,
    sort: SortKey,
    limit: int,
    offset: int,
) -> tuple[list[TaskOut], int]:
    """A page of the user's tasks and how many match; `overdue` means due before `today` (the user's)."""
    page, count = list_query(
        status, priority is not None, tag is not None, due_before is not None, overdue, search is not None, sort
    )
    params: dict[str, Any] = {
        "user_id": user_id,
        "priority": priority,
        "tag": tag,
        "due_before": due_before,
        "today": today,
    }
    if search is not None:
        params["pattern"] = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = (await page.run(conn, **params, limit=limit, offset=offset)).all()
    if rows:
        return [task_out(row) for row in rows], rows[0].total
    # Past the last page the window count has no row to ride on; ask for it (only when it can be non-zero).
    return [], (await count.run(conn, **params)).scalar_one() if offset else 0


async def get_task(conn: Connection, user_id: str, number: int) -> TaskOut:
    row = (await TASK_BY_NUMBER.run(conn, user_id=user_id, number=number)).first()
    if row is None:
        raise task_not_found(number)
    return task_out(row)


async def set_completed(conn: Connection, user_id: str, number: int, completed: bool) -> TaskOut:
    changed = (await (COMPLETE if completed else REOPEN).run(conn, user_id=user_id, number=number)).first()
    # Nothing changed: the task is already in that state, or it does not exist.
    return task_out(changed) if changed is not None else await get_task(conn, user_id, number)


@lru_cache(maxsize=64)
def update_query(fields: frozenset[str]) -> Query:
    values: dict[str, Any] = {name: bindparam(name, type_=UPDATABLE[name].type) for name in fields}
    return Query(update(Task).where(*OWN_TASK).values(**values, updated_at=func.now()).returning(*TASK_COLUMNS))


async def update_task(conn: Connection, user_id: str, number: int, changes: dict[str, Any]) -> TaskOut:
    if not changes:
        return await get_task(conn, user_id, number)
    row = (await update_query(frozenset(changes)).run(conn, user_id=user_id, number=number, **changes)).first()
    if row is None:
        raise task_not_found(number)
    return task_out(row)


async def delete_task(conn: Connection, user_id: str, number: int) -> TaskOut:
    row = (await DELETE_TASK.run(conn, user_id=user_id, number=number)).first()
    if row is None:
        raise task_not_found(number)
    return task_out(row)


# Conversations

CONVERSATION_COLUMNS = (Conversation.id, Conversation.title, Conversation.created_at, Conversation.updated_at)
OWN_CONVERSATION = (Conversation.id == bindparam("conversation_id"), Conversation.user_id == bindparam("user_id"))
MESSAGE_COLUMNS = (Message.role, Message.content, Message.tool_calls, Message.tool_call_id, Message.created_at)
OF_CONVERSATION = Message.conversation_id == bindparam("conversation_id")

CREATE_CONVERSATION = Query(
    insert(Conversation)
    .values(id=bindparam("conversation_id"), user_id=bindparam("user_id"), title=bindparam("title"))
    .returning(*CONVERSATION_COLUMNS)
)
CONVERSATION = Query(select(*CONVERSATION_COLUMNS).where(*OWN_CONVERSATION))
CONVERSATION_FOR_UPDATE = Query(select(*CONVERSATION_COLUMNS).where(*OWN_CONVERSATION).with_for_update())
CONVERSATIONS = Query(
    select(*CONVERSATION_COLUMNS, func.count().over().label("total"))
    .where(Conversation.user_id == bindparam("user_id"))
    .order_by(Conversation.updated_at.desc(), Conversation.created_at.desc())
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)
COUNT_CONVERSATIONS = Query(select(func.count()).where(Conversation.user_id == bindparam("user_id")))
COUNT_MESSAGES = Query(select(func.count()).select_from(Message).where(OF_CONVERSATION))
ALL_MESSAGES = Query(select(*MESSAGE_COLUMNS).where(OF_CONVERSATION).order_by(Message.id))
RECENT_MESSAGES = Query(
    select(*MESSAGE_COLUMNS).where(OF_CONVERSATION).order_by(Message.id.desc()).limit(bindparam("limit"))
)
# One append in one statement, after the conversation row is locked (so a concurrent retry with the same key has
# committed, or waits): the batch's earlier answer if its key was used in this conversation before; otherwise the
# batch inserted in order, the conversation touched, and the count right after it. A data-modifying CTE's rows are
# not visible to the rest of the statement, hence "existing + inserted".
_earlier = (
    select(func.count().label("size"), func.max(Message.id).label("last_id"))
    .where(OF_CONVERSATION, Message.idempotency_key == bindparam("idempotency_key"))
    .cte("earlier")
)
_first_time = select(_earlier.c.size).scalar_subquery() == 0
_batch = (
    func.unnest(
        cast(bindparam("roles"), ARRAY(String)),
        cast(bindparam("contents"), ARRAY(Text)),
        cast(bindparam("tool_calls"), ARRAY(JSONB)),
        cast(bindparam("tool_call_ids"), ARRAY(String)),
    )
    .table_valued("role", "content", "tool_calls", "tool_call_id", with_ordinality="position")
    .render_derived(name="batch")
)
_inserted = (
    insert(Message)
    .from_select(
        ["conversation_id", "role", "content", "tool_calls", "tool_call_id", "idempotency_key"],
        select(
            bindparam("conversation_id", type_=UUID),
            _batch.c.role,
            _batch.c.content,
            _batch.c.tool_calls,
            _batch.c.tool_call_id,
            bindparam("idempotency_key", type_=String),
        )
        .where(_first_time)
        .order_by(_batch.c.position),
    )
    .returning(Message.id)
    .cte("inserted")
)
_touched = (
    update(Conversation)
    .where(Conversation.id == bindparam("conversation_id"), _first_time)
    .values(title=bindparam("title"), updated_at=func.now())
    .cte("touched")
)
_inserted_count = select(func.count()).select_from(_inserted).scalar_subquery()
_up_to_batch = (
    select(func.count())
    .select_from(Message)
    .where(OF_CONVERSATION, or_(_earlier.c.last_id.is_(None), Message.id <= _earlier.c.last_id))
    .scalar_subquery()
)
APPEND_MESSAGES = Query(
    select(
        (_earlier.c.size + _inserted_count).label("appended"),
        (_up_to_batch + _inserted_count).label("total_messages"),
    )
    .select_from(_earlier)
    .add_cte(_touched)
)
DELETE_CONVERSATION = Query(delete(Conversation).where(*OWN_CONVERSATION).returning(Conversation.id))
# A rename leaves updated_at alone: it is the conversation's last activity, which orders the list.
RENAME_CONVERSATION = Query(
    update(Conversation)
    .where(*OWN_CONVERSATION)
    .values(title=bindparam("title", type_=String))
    .returning(*CONVERSATION_COLUMNS)
)

# Search: the user's conversations whose title or user/assistant messages hold every word (the last one as a
# prefix), in one statement. The words are matched with the very expressions the GIN indexes of migration 0004 are
# built on (models.search_vector, models.SEARCHED_MESSAGES). A conversation's rank is its title's rank, counted
# double, plus the ranks of its matching messages (each divided by 1 + log of its length: a passing mention in a
# long message counts little); its snippet comes from its best message, or from its title when no message matches.
SEARCH_QUERY = func.to_tsquery(SEARCH_CONFIG, bindparam("tsquery", type_=String))
TITLE_RANK_WEIGHT = 2
HEADLINE_OPTIONS = literal_column(
    """'StartSel=«, StopSel=», MaxWords=18, MinWords=6, ShortWord=2, MaxFragments=1, FragmentDelimiter=" … "'"""
)
SNIPPET_LENGTH = 240
_title_hits = (
    select(
        Conversation.id.label("conversation_id"),
        func.ts_rank(search_vector(Conversation.title), SEARCH_QUERY, 1).label("rank"),
    )
    .where(Conversation.user_id == bindparam("user_id"), search_vector(Conversation.title).op("@@")(SEARCH_QUERY))
    .cte("title_hits")
)
_message_rank = func.ts_rank(search_vector(Message.content), SEARCH_QUERY, 1)
_message_hits = (
    select(
        Message.conversation_id,
        func.sum(_message_rank).label("rank"),
        func.array_agg(
            aggregate_order_by(Message.id, _message_rank.desc(), Message.id.desc()), type_=ARRAY(BigInteger)
        )[1].label("best_message"),
    )
    .join(Conversation, Conversation.id == Message.conversation_id)
    .where(
        Conversation.user_id == bindparam("user_id"),
        SEARCHED_MESSAGES,
        search_vector(Message.content).op("@@")(SEARCH_QUERY),
    )
    .group_by(Message.conversation_id)
    .cte("message_hits")
)
_hit_rank = (TITLE_RANK_WEIGHT * func.coalesce(_title_hits.c.rank, 0) + func.coalesce(_message_hits.c.rank, 0)).label(
    "rank"
)
_page = (
    select(
        Conversation.id,
        Conversation.title,
        Conversation.updated_at,
        _hit_rank,
        _message_hits.c.best_message,
        func.count().over().label("total"),
    )
    .outerjoin(_title_hits, _title_hits.c.conversation_id == Conversation.id)
    .outerjoin(_message_hits, _message_hits.c.conversation_id == Conversation.id)
    .where(
        Conversation.user_id == bindparam("user_id"),
        or_(_title_hits.c.conversation_id.is_not(None), _message_hits.c.conversation_id.is_not(None)),
    )
    .order_by(_hit_rank.desc(), Conversation.updated_at.desc(), Conversation.id)
    .limit(bindparam("limit"))
    .subquery("page")
)
SEARCH_CONVERSATIONS = Query(
    select(
        _page.c.id,
        _page.c.title,
        _page.c.updated_at,
        _page.c.rank,
        _page.c.total,
        func.ts_headline(
            SEARCH_CONFIG, func.coalesce(Message.content, _page.c.title), SEARCH_QUERY, HEADLINE_OPTIONS
        ).label("snippet"),
    )
    .select_from(_page.outerjoin(Message, Message.id == _page.c.best_message))
    .order_by(_page.c.rank.desc(), _page.c.updated_at.desc(), _page.c.id)
)


def conversation_out(row: Row) -> ConversationOut:
    return ConversationOut(
        conversation_id=row.id, title=row.title, created_at=row.created_at, updated_at=row.updated_at
    )


async def create_conversation(conn: Connection, user_id: str, title: str) -> ConversationOut:
    row = (await CREATE_CONVERSATION.run(conn, conversation_id=uuid.uuid4(), user_id=user_id, title=title)).one()
    return conversation_out(row)


async def get_conversation(
    conn: Connection, user_id: str, conversation_id: uuid.UUID, *, for_update: bool = False
) -> ConversationOut:
    query = CONVERSATION_FOR_UPDATE if for_update else CONVERSATION
    row = (await query.run(conn, conversation_id=conversation_id, user_id=user_id)).first()
    if row is None:
        raise conversation_not_found(conversation_id)
    return conversation_out(row)


async def list_conversations(
    conn: Connection, user_id: str, *, limit: int, offset: int
) -> tuple[list[ConversationOut], int]:
    rows = (await CONVERSATIONS.run(conn, user_id=user_id, limit=limit, offset=offset)).all()
    if rows:
        return [conversation_out(row) for row in rows], rows[0].total
    return [], (await COUNT_CONVERSATIONS.run(conn, user_id=user_id)).scalar_one() if offset else 0


async def count_messages(conn: Connection, conversation_id: uuid.UUID) -> int:
    return (await COUNT_MESSAGES.run(conn, conversation_id=conversation_id)).scalar_one()


async def recent_messages(conn: Connection, conversation_id: uuid.UUID, limit: int | None) -> list[MessageOut]:
    """The conversation's messages in order; with a limit, only the most recent ones."""
    if limit is None:
        rows = (await ALL_MESSAGES.run(conn, conversation_id=conversation_id)).all()
    else:
        rows = (await RECENT_MESSAGES.run(conn, conversation_id=conversation_id, limit=limit)).all()[::-1]
    return [
        MessageOut(
            role=row.role,
            content=row.content,
            tool_calls=row.tool_calls,
            tool_call_id=row.tool_call_id,
            created_at=row.created_at,
        )
        for row in rows
    ]


async def append_messages(
    conn: Connection,
    user_id: str,
    conversation_id: uuid.UUID,
    messages: list[MessageIn],
    *,
    idempotency_key: str | None = None,
) -> tuple[int, int]:
    """Append a batch in order, all or none: (the batch's size, the conversation's message count right after it).
    With a key already used in this conversation nothing is stored and the first append's numbers come back."""
    # Locking the conversation row keeps concurrent appends to one conversation in order, and makes the key check
    # in APPEND_MESSAGES race-free: a concurrent append with the same key has committed before the lock is ours.
    conversation = await get_conversation(conn, user_id, conversation_id, for_update=True)
    title = conversation.title
    if not title:
        title = title_from(next((m.content for m in messages if m.role == "user" and m.content.strip()), ""))
    row = (
        await APPEND_MESSAGES.run(
            conn,
            conversation_id=conversation_id,
            idempotency_key=idempotency_key,
            title=title,
            roles=[message.role for message in messages],
            contents=[message.content for message in messages],
            tool_calls=[
                Jsonb([call.model_dump() for call in message.tool_calls]) if message.tool_calls else None
                for message in messages
            ],
            tool_call_ids=[message.tool_call_id for message in messages],
        )
    ).one()
    return row.appended, row.total_messages


async def rename_conversation(
    conn: Connection, user_id: str, conversation_id: uuid.UUID, title: str
) -> ConversationOut:
    row = (await RENAME_CONVERSATION.run(conn, conversation_id=conversation_id, user_id=user_id, title=title)).first()
    if row is None:
        raise conversation_not_found(conversation_id)
    return conversation_out(row)


def search_terms(words: str) -> str | None:
    """The tsquery text for what the user typed: every word, the last one as a prefix ("send Q3 repo" becomes
    'send' & 'Q3' & 'repo':*); None when there is no letter or digit to look for.

    Each word is one quoted tsquery value, its quotes and backslashes doubled: the operators of the tsquery syntax
    (& | ! ( ) : * <->) a user types are characters inside a value, which Postgres' parser then reads as it reads
    the messages (punctuation dropped, "PR-42" and "don't" split the same way). The text reaches Postgres as a bound
    parameter of to_tsquery, never as SQL."""
    if not any(char.isalnum() for char in words):
        return None
    values = ["'" + word.replace("\\", "\\\\").replace("'", "''") + "'" for word in words.split()]
    values[-1] += ":*"
    return " & ".join(values)


async def search_conversations(
    conn: Connection, user_id: str, words: str, *, limit: int
) -> tuple[list[ConversationHit], int]:
    """The user's conversations that match, best first, and how many match in all."""
    tsquery = search_terms(words)
    if tsquery is None:
        return [], 0
    rows = (await SEARCH_CONVERSATIONS.run(conn, user_id=user_id, tsquery=tsquery, limit=limit)).all()
    hits = [
        ConversationHit(
            conversation_id=row.id,
            title=row.title,
            updated_at=row.updated_at,
            snippet=cut_at_word(one_line(row.snippet), SNIPPET_LENGTH),
            rank=row.rank,
        )
        for row in rows
    ]
    return hits, rows[0].total if rows else 0


async def delete_conversation(conn: Connection, user_id: str, conversation_id: uuid.UUID) -> None:
    if (await DELETE_CONVERSATION.run(conn, conversation_id=conversation_id, user_id=user_id)).first() is None:
        raise conversation_not_found(conversation_id)
