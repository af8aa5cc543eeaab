"""Database access for the tools: small functions that take a connection (one transaction) and one user's id.

Statements are SQLAlchemy Core over the ORM-mapped tables and come back as the tools' result models: on the
hot path of every tool call, Core costs about half the CPU of the ORM's unit of work and identity map.
"""

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, any_, case, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError

from mcp_server.errors import NotFound
from mcp_server.models import Conversation, Message, Task, UserCounter
from mcp_server.schemas import ConversationOut, MessageIn, MessageOut, Priority, SortKey, Status, TaskOut

CONVERSATION_TITLE_LENGTH = 80
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
CONVERSATION_COLUMNS = (Conversation.id, Conversation.title, Conversation.created_at, Conversation.updated_at)


def task_not_found(number: int) -> NotFound:
    return NotFound(f"Task {number} does not exist. Call list_tasks to see the task numbers.")


def conversation_not_found(conversation_id: uuid.UUID) -> NotFound:
    return NotFound(f"Conversation {conversation_id} does not exist. Start a new conversation.")


def task_out(row: Row[Any]) -> TaskOut:
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


def conversation_out(row: Row[Any]) -> ConversationOut:
    return ConversationOut(
        conversation_id=row.id, title=row.title, created_at=row.created_at, updated_at=row.updated_at
    )


# Tasks


def add_task(
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
    values = {"title": title, "description": description, "priority": priority, "due_date": due_date, "tags": tags}
    if idempotency_key is None:
        return _insert_task(conn, user_id, values)
    query = select(*TASK_COLUMNS).where(Task.user_id == user_id, Task.idempotency_key == idempotency_key)
    existing = conn.execute(query).first()
    if existing is not None:
        return task_out(existing)
    try:
        with conn.begin_nested():
            return _insert_task(conn, user_id, {**values, "idempotency_key": idempotency_key})
    except IntegrityError:
        # A concurrent retry with the same key committed first: answer with its task.
        existing = conn.execute(query).first()
        if existing is None:
            raise
        return task_out(existing)


def _insert_task(conn: Connection, user_id: str, values: dict[str, Any]) -> TaskOut:
    # The upsert takes a row lock on the user's counter, so concurrent adds get distinct numbers,
    # and a rolled-back add gives its number back; a committed one is never handed out again.
    number = conn.execute(
        pg_insert(UserCounter)
        .values(user_id=user_id, last_task_number=1)
        .on_conflict_do_update(
            index_elements=[UserCounter.user_id],
            set_={"last_task_number": UserCounter.last_task_number + 1},
        )
        .returning(UserCounter.last_task_number)
    ).scalar_one()
    row = conn.execute(insert(Task).values(user_id=user_id, number=number, **values).returning(*TASK_COLUMNS))
    return task_out(row.one())


PRIORITY_RANK = case({"high": 0, "medium": 1, "low": 2}, value=Task.priority)
SORT_ORDER: dict[str, Sequence[Any]] = {
    "created": [Task.number],
    "due": [Task.due_date.asc().nulls_last(), Task.number],
    "priority": [PRIORITY_RANK, Task.number],
}


def list_tasks(
    conn: Connection,
    user_id: str,
    *,
    status: Status,
    priority: Priority | None,
    tag: str | None,
    due_before: dt.date | None,
    overdue: bool,
    search: str | None,
    sort: SortKey,
    limit: int,
    offset: int,
) -> tuple[list[TaskOut], int]:
    query = select(*TASK_COLUMNS, func.count().over().label("total")).where(Task.user_id == user_id)
    if status == "open":
        query = query.where(Task.completed.is_(False))
    elif status == "done":
        query = query.where(Task.completed.is_(True))
    if priority is not None:
        query = query.where(Task.priority == priority)
    if tag is not None:
        query = query.where(any_(Task.tags) == tag)
    if due_before is not None:
        query = query.where(Task.due_date < due_before)
    if overdue:
        query = query.where(Task.due_date < func.current_date(), Task.completed.is_(False))
    if search is not None:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(Task.title.ilike(pattern), Task.description.ilike(pattern)))
    rows = conn.execute(query.order_by(*SORT_ORDER[sort]).limit(limit).offset(offset)).all()
    if rows:
        return [task_out(row) for row in rows], rows[0].total
    total = conn.scalar(select(func.count()).select_from(query.subquery())) if offset else 0
    return [], total or 0


def get_task(conn: Connection, user_id: str, number: int) -> TaskOut:
    row = conn.execute(select(*TASK_COLUMNS).where(Task.user_id == user_id, Task.number == number)).first()
    if row is None:
        raise task_not_found(number)
    return task_out(row)


def set_completed(conn: Connection, user_id: str, number: int, completed: bool) -> TaskOut:
    changed = conn.execute(
        update(Task)
        .where(Task.user_id == user_id, Task.number == number, Task.completed.is_not(completed))
        .values(completed=completed, completed_at=func.now() if completed else None, updated_at=func.now())
        .returning(*TASK_COLUMNS)
    ).first()
    # Nothing changed: the task is already in that state, or it does not exist.
    return task_out(changed) if changed is not None else get_task(conn, user_id, number)


def update_task(conn: Connection, user_id: str, number: int, changes: dict[str, Any]) -> TaskOut:
    if not changes:
        return get_task(conn, user_id, number)
    row = conn.execute(
        update(Task)
        .where(Task.user_id == user_id, Task.number == number)
        .values(**changes, updated_at=func.now())
        .returning(*TASK_COLUMNS)
    ).first()
    if row is None:
        raise task_not_found(number)
    return task_out(row)


def delete_task(conn: Connection, user_id: str, number: int) -> TaskOut:
    row = conn.execute(
        delete(Task).where(Task.user_id == user_id, Task.number == number).returning(*TASK_COLUMNS)
    ).first()
    if row is None:
        raise task_not_found(number)
    return task_out(row)


# Conversations


def create_conversation(conn: Connection, user_id: str, title: str) -> ConversationOut:
    row = conn.execute(
        insert(Conversation).values(id=uuid.uuid4(), user_id=user_id, title=title).returning(*CONVERSATION_COLUMNS)
    ).one()
    return conversation_out(row)


def get_conversation(
    conn: Connection, user_id: str, conversation_id: uuid.UUID, *, for_update: bool = False
) -> ConversationOut:
    query = select(*CONVERSATION_COLUMNS).where(Conversation.id == conversation_id, Conversation.user_id == user_id)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise conversation_not_found(conversation_id)
    return conversation_out(row)


def list_conversations(conn: Connection, user_id: str, *, limit: int, offset: int) -> tuple[list[ConversationOut], int]:
    rows = conn.execute(
        select(*CONVERSATION_COLUMNS, func.count().over().label("total"))
        .where(Conversation.user_id == user_id)
        .order_by(Conversation.updated_at.desc(), Conversation.created_at.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    if rows:
        return [conversation_out(row) for row in rows], rows[0].total
    total = conn.scalar(select(func.count()).where(Conversation.user_id == user_id))
    return [], total or 0


def count_messages(conn: Connection, conversation_id: uuid.UUID) -> int:
    query = select(func.count()).select_from(Message).where(Message.conversation_id == conversation_id)
    return conn.scalar(query) or 0


def recent_messages(conn: Connection, conversation_id: uuid.UUID, limit: int | None) -> list[MessageOut]:
    """The conversation's messages in order; with a limit, only the most recent ones."""
    columns = (Message.role, Message.content, Message.tool_calls, Message.tool_call_id, Message.created_at)
    query = select(*columns).where(Message.conversation_id == conversation_id)
    if limit is None:
        rows = list(conn.execute(query.order_by(Message.id)))
    else:
        rows = list(conn.execute(query.order_by(Message.id.desc()).limit(limit)))[::-1]
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


def append_messages(conn: Connection, user_id: str, conversation_id: uuid.UUID, messages: list[MessageIn]) -> None:
    # Locking the conversation row keeps concurrent appends to one conversation in order.
    conversation = get_conversation(conn, user_id, conversation_id, for_update=True)
    conn.execute(
        insert(Message),
        [
            {
                "conversation_id": conversation_id,
                "role": message.role,
                "content": message.content,
                "tool_calls": [call.model_dump() for call in message.tool_calls] if message.tool_calls else None,
                "tool_call_id": message.tool_call_id,
            }
            for message in messages
        ],
    )
    title = conversation.title
    if not title:
        title = title_from(next((m.content for m in messages if m.role == "user" and m.content.strip()), ""))
    conn.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(title=title, updated_at=func.now())
    )


def title_from(text: str) -> str:
    line = " ".join(text.split())
    if len(line) <= CONVERSATION_TITLE_LENGTH:
        return line
    return line[: CONVERSATION_TITLE_LENGTH - 1].rstrip() + "…"


def delete_conversation(conn: Connection, user_id: str, conversation_id: uuid.UUID) -> None:
    deleted = conn.execute(
        delete(Conversation)
        .where(Conversation.id == conversation_id, Conversation.user_id == user_id)
        .returning(Conversation.id)
    ).first()
    if deleted is None:
        raise conversation_not_found(conversation_id)
