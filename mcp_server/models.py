"""The database tables: tasks (with per-user numbers), conversations and their messages, access tokens."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from contract.limits import (
    CALL_ID_LENGTH,
    DESCRIPTION_LENGTH,
    IDEMPOTENCY_KEY_LENGTH,
    TAG_LENGTH,
    TAGS_PER_TASK,
    TITLE_LENGTH,
    TOKEN_NAME_LENGTH,
    USER_ID_LENGTH,
)
from contract.schemas import PRIORITIES


class Base(DeclarativeBase):
    pass


# Conversation search reads words with Postgres' `simple` text search configuration: lower-cased, every word kept,
# nothing stemmed. Chats mix names ("Müller"), codes ("Q3", "PR-42") and languages, which `english` would stem or
# drop (its stop words make "what's open" unsearchable); what was typed is what is found, and the last word of a
# search is a prefix ("repo" finds "report"), which covers plurals and -ing forms as one types.
SEARCH_CONFIG = text("'simple'::regconfig")
# What people and the assistant wrote; tool results are not searched. Written out, not bound: the planner uses the
# partial index only for a query whose condition is this one.
SEARCHED_MESSAGES = text("messages.role IN ('user', 'assistant')")


def search_vector(column: ColumnElement[str]) -> ColumnElement[Any]:
    """The words of a text column as the search indexes hold them: a query must use this very expression (the
    configuration written into the SQL, not a parameter) for Postgres to use the index."""
    return func.to_tsvector(SEARCH_CONFIG, column)


class UserCounter(Base):
    """The last task number handed out per user: numbers are never reused, even after a delete."""

    __tablename__ = "user_counters"

    user_id: Mapped[str] = mapped_column(String(USER_ID_LENGTH), primary_key=True)
    last_task_number: Mapped[int] = mapped_column(Integer, nullable=False)


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        Index("uq_tasks_user_number", "user_id", "number", unique=True),
        Index(
            "uq_tasks_user_idempotency_key",
            "user_id",
            "idempotency_key",
            unique=True,
            postgresql_where="idempotency_key IS NOT NULL",
        ),
        CheckConstraint(f"priority IN {PRIORITIES}", name="ck_tasks_priority"),
        CheckConstraint(f"char_length(title) BETWEEN 1 AND {TITLE_LENGTH}", name="ck_tasks_title_length"),
        CheckConstraint(f"char_length(description) <= {DESCRIPTION_LENGTH}", name="ck_tasks_description_length"),
        CheckConstraint(f"cardinality(tags) <= {TAGS_PER_TASK}", name="ck_tasks_tag_count"),
    )

    pk: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(USER_ID_LENGTH), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    title: Mapped[str] = mapped_column(String(TITLE_LENGTH), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    priority: Mapped[str] = mapped_column(String(6), nullable=False, server_default="medium")
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(TAG_LENGTH)), nullable=False, server_default="{}")
    completed: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    idempotency_key: Mapped[str | None] = mapped_column(String(IDEMPOTENCY_KEY_LENGTH))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_user_updated", "user_id", "updated_at"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[str] = mapped_column(String(USER_ID_LENGTH), nullable=False)
    title: Mapped[str] = mapped_column(String(TITLE_LENGTH), nullable=False, server_default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_id", "conversation_id", "id"),
        # Not unique: every message of a batch carries its key (a retry with the key replays the batch's answer).
        Index(
            "ix_messages_conversation_idempotency_key",
            "conversation_id",
            "idempotency_key",
            postgresql_where="idempotency_key IS NOT NULL",
        ),
        CheckConstraint("role IN ('user', 'assistant', 'tool')", name="ck_messages_role"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    tool_calls: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    tool_call_id: Mapped[str | None] = mapped_column(String(CALL_ID_LENGTH))
    idempotency_key: Mapped[str | None] = mapped_column(String(IDEMPOTENCY_KEY_LENGTH))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


# GIN indexes on the words of each title and each searched message (expressions, not stored columns: no table
# rewrite, nothing to keep in sync); a message index holds user and assistant messages only.
Index("ix_conversations_search", search_vector(Conversation.title), postgresql_using="gin")
Index(
    "ix_messages_search",
    search_vector(Message.content),
    postgresql_using="gin",
    postgresql_where=SEARCHED_MESSAGES,
)


class PersonalToken(Base):
    """A personal access token: only its SHA-256 is kept; revoked rows stay (revoked_at) for the record."""

    __tablename__ = "access_tokens"
    __table_args__ = (
        Index("uq_access_tokens_hash", "token_hash", unique=True),
        Index("ix_access_tokens_user_created", "user_id", "created_at"),
        CheckConstraint("char_length(name) BETWEEN 1 AND 100", name="ck_access_tokens_name_length"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[str] = mapped_column(String(USER_ID_LENGTH), nullable=False)
    name: Mapped[str] = mapped_column(String(TOKEN_NAME_LENGTH), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)  # sha256, hex
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
