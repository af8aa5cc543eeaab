"""Database access for the tools: small functions that take a session and one user's id."""

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import any_, case, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mcp_server.errors import NotFound
from mcp_server.models import Conversation, Message, Task, UserCounter
from mcp_server.schemas import MessageIn, Priority, SortKey, Status

CONVERSATION_TITLE_LENGTH = 80


def task_not_found(number: int) -> NotFound:
    return NotFound(f"Task {number} does not exist. Call list_tasks to see the task numbers.")


def conversation_not_found(conversation_id: uuid.UUID) -> NotFound:
    return NotFound(f"Conversation {conversation_id} does not exist. Start a new conversation.")


# Tasks


def add_task(
    session: Session,
    user_id: str,
    *,
    title: str,
    description: str,
    priority: Priority,
    due_date: dt.date | None,
    tags: list[str],
    idempotency_key: str | None,
) -> Task:
    if idempotency_key is None:
        return _insert_task(session, user_id, title, description, priority, due_date, tags, None)
    query = select(Task).where(Task.user_id == user_id, Task.idempotency_key == idempotency_key)
    existing = session.scalar(query)
    if existing is not None:
        return existing
    try:
        with session.begin_nested():
            return _insert_task(session, user_id, title, description, priority, due_date, tags, idempotency_key)
    except IntegrityError:
        # A concurrent retry with the same key committed first: answer with its task.
        existing = session.scalar(query)
        if existing is None:
            raise
        return existing


def _insert_task(
    session: Session,
    user_id: str,
    title: str,
    description: str,
    priority: Priority,
    due_date: dt.date | None,
    tags: list[str],
    idempotency_key: str | None,
) -> Task:
    # The upsert takes a row lock on the user's counter, so concurrent adds get distinct numbers,
    # and a rolled-back add gives its number back; a committed one is never handed out again.
    number = session.execute(
        insert(UserCounter)
        .values(user_id=user_id, last_task_number=1)
        .on_conflict_do_update(
            index_elements=[UserCounter.user_id],
            set_={"last_task_number": UserCounter.last_task_number + 1},
        )
        .returning(UserCounter.last_task_number)
    ).scalar_one()
    task = Task(
        user_id=user_id,
        number=number,
        title=title,
        description=description,
        priority=priority,
        due_date=due_date,
        tags=tags,
        completed=False,
        idempotency_key=idempotency_key,
    )
    session.add(task)
    session.flush()
    session.refresh(task)
    return task


PRIORITY_RANK = case({"high": 0, "medium": 1, "low": 2}, value=Task.priority)


def list_tasks(
    session: Session,
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
) -> tuple[list[Task], int]:
    query = select(Task, func.count().over().label("total")).where(Task.user_id == user_id)
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
    order: dict[str, Sequence[Any]] = {
        "created": [Task.number],
        "due": [Task.due_date.asc().nulls_last(), Task.number],
        "priority": [PRIORITY_RANK, Task.number],
    }
    rows = session.execute(query.order_by(*order[sort]).limit(limit).offset(offset)).all()
    if rows:
        return [row[0] for row in rows], rows[0][1]
    total = session.scalar(select(func.count()).select_from(query.subquery())) if offset else 0
    return [], total or 0


def get_task(session: Session, user_id: str, number: int, *, for_update: bool = False) -> Task:
    query = select(Task).where(Task.user_id == user_id, Task.number == number)
    if for_update:
        query = query.with_for_update()
    task = session.scalar(query)
    if task is None:
        raise task_not_found(number)
    return task


def set_completed(session: Session, user_id: str, number: int, completed: bool) -> Task:
    task = get_task(session, user_id, number, for_update=True)
    if task.completed != completed:
        task.completed = completed
        task.completed_at = func.now() if completed else None  # type: ignore[assignment]
        task.updated_at = func.now()  # type: ignore[assignment]
        session.flush()
        session.refresh(task)
    return task


def update_task(session: Session, user_id: str, number: int, changes: dict[str, Any]) -> Task:
    task = get_task(session, user_id, number, for_update=True)
    for field, value in changes.items():
        setattr(task, field, value)
    if changes:
        task.updated_at = func.now()  # type: ignore[assignment]
        session.flush()
        session.refresh(task)
    return task


def delete_task(session: Session, user_id: str, number: int) -> Task:
    task = session.scalar(delete(Task).where(Task.user_id == user_id, Task.number == number).returning(Task))
    if task is None:
        raise task_not_found(number)
    return task


# Conversations


def create_conversation(session: Session, user_id: str, title: str) -> Conversation:
    conversation = Conversation(id=uuid.uuid4(), user_id=user_id, title=title)
    session.add(conversation)
    session.flush()
    session.refresh(conversation)
    return conversation


def get_conversation(
    session: Session, user_id: str, conversation_id: uuid.UUID, *, for_update: bool = False
) -> Conversation:
    query = select(Conversation).where(Conversation.id == conversation_id, Conversation.user_id == user_id)
    if for_update:
        query = query.with_for_update()
    conversation = session.scalar(query)
    if conversation is None:
        raise conversation_not_found(conversation_id)
    return conversation


def list_conversations(session: Session, user_id: str, *, limit: int, offset: int) -> tuple[list[Conversation], int]:
    rows = session.execute(
        select(Conversation, func.count().over())
        .where(Conversation.user_id == user_id)
        .order_by(Conversation.updated_at.desc(), Conversation.created_at.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    if rows:
        return [row[0] for row in rows], rows[0][1]
    total = session.scalar(select(func.count()).where(Conversation.user_id == user_id))
    return [], total or 0


def count_messages(session: Session, conversation_id: uuid.UUID) -> int:
    return (
        session.scalar(select(func.count()).select_from(Message).where(Message.conversation_id == conversation_id)) or 0
    )


def recent_messages(session: Session, conversation_id: uuid.UUID, limit: int | None) -> list[Message]:
    """The conversation's messages in order; with a limit, only the most recent ones."""
    query = select(Message).where(Message.conversation_id == conversation_id)
    if limit is None:
        return list(session.scalars(query.order_by(Message.id)))
    newest_first = list(session.scalars(query.order_by(Message.id.desc()).limit(limit)))
    return newest_first[::-1]


def append_messages(
    session: Session, user_id: str, conversation_id: uuid.UUID, messages: list[MessageIn]
) -> Conversation:
    # Locking the conversation row keeps concurrent appends to one conversation in order.
    conversation = get_conversation(session, user_id, conversation_id, for_update=True)
    session.add_all(
        Message(
            conversation_id=conversation_id,
            role=message.role,
            content=message.content,
            tool_calls=[call.model_dump() for call in message.tool_calls] if message.tool_calls else None,
            tool_call_id=message.tool_call_id,
        )
        for message in messages
    )
    if not conversation.title:
        first_user_text = next((m.content for m in messages if m.role == "user" and m.content.strip()), "")
        conversation.title = title_from(first_user_text)
    conversation.updated_at = func.now()  # type: ignore[assignment]
    session.flush()
    session.refresh(conversation)
    return conversation


def title_from(text: str) -> str:
    line = " ".join(text.split())
    if len(line) <= CONVERSATION_TITLE_LENGTH:
        return line
    return line[: CONVERSATION_TITLE_LENGTH - 1].rstrip() + "…"


def delete_conversation(session: Session, user_id: str, conversation_id: uuid.UUID) -> None:
    deleted = session.scalar(
        delete(Conversation)
        .where(Conversation.id == conversation_id, Conversation.user_id == user_id)
        .returning(Conversation.id)
    )
    if deleted is None:
        raise conversation_not_found(conversation_id)
