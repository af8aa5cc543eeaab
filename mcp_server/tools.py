"""The MCP tools. Each tool is one typed async function: its docstring is its description, its types its schema.

Every tool acts for the caller the server resolved from the request's credential (`caller(ctx)`); none takes a
user argument. Date arguments take YYYY-MM-DD or a phrase ("friday", "in 3 days"), which the tool resolves from
the caller's today (`day()`) before anything is stored; results show the date it became. Task tools are offered to
the language model (FOR_MODEL in their _meta); conversation tools are for the UI and never for the model;
access-token tools answer a signed-in person, never a personal token (SIGNED_IN_ONLY).
"""

import datetime as dt
import uuid
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import Field

from contract import tools as names
from contract.dates import DATE_FORMS, resolve_date
from contract.schemas import (
    AccessTokenList,
    AppendResult,
    ConversationId,
    ConversationList,
    ConversationOut,
    ConversationQuery,
    ConversationSearch,
    ConversationTitle,
    ConversationWithMessages,
    DateText,
    DeletedConversation,
    DeletedTask,
    Description,
    ExpiresInDays,
    IdempotencyKey,
    Limit,
    MessageLimit,
    Messages,
    NewAccessToken,
    NewConversationTitle,
    Offset,
    Priority,
    Recent,
    RevokedAccessToken,
    SearchText,
    SortKey,
    Status,
    Tag,
    Tags,
    TaskList,
    TaskNumber,
    TaskOut,
    Title,
    TokenName,
)
from contract.titles import given_title
from contract.tools import FOR_MODEL_META, SIGNED_IN_ONLY_META
from mcp_server import store, tokens
from mcp_server.auth import Authenticator, caller
from mcp_server.db import Database
from mcp_server.errors import InvalidArguments

FOR_MODEL = {FOR_MODEL_META: True}  # task tools: a chat agent offers exactly these to its model
SIGNED_IN_ONLY = {SIGNED_IN_ONLY_META: True}  # token tools: not for personal tokens

READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
CREATE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)
CHANGE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
DELETE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False)


def day(ctx: Context, argument: str, text: str | None) -> dt.date | None:
    """The day a date argument names, counted from the caller's today (in the caller's time zone)."""
    if text is None:
        return None
    resolved = resolve_date(text, caller(ctx).today())
    if resolved is None:  # DateText checked the form already: only a day past the calendar's end gets here
        raise InvalidArguments(f"{argument} is not a date: use {DATE_FORMS}. Nothing was changed.")
    return resolved


def register_task_tools(mcp: MCPServer, db: Database) -> None:
    @mcp.tool(name=names.ADD_TASK, title="Add a task", meta=FOR_MODEL, annotations=CREATE)
    async def add_task(
        ctx: Context,
        title: Title,
        description: Description = "",
        priority: Priority = "medium",
        due_date: DateText | None = None,
        tags: Tags = [],  # noqa: B006  # pydantic copies defaults; the schema shows []
        idempotency_key: IdempotencyKey | None = None,
    ) -> TaskOut:
        """Add a task to the user's list and return it with its number."""
        due = day(ctx, "due_date", due_date)
        async with db.connection() as conn:
            return await store.add_task(
                conn,
                caller(ctx).user_id,
                title=title,
                description=description,
                priority=priority,
                due_date=due,
                tags=tags,
                idempotency_key=idempotency_key,
            )

    @mcp.tool(name=names.LIST_TASKS, title="List tasks", meta=FOR_MODEL, annotations=READ)
    async def list_tasks(
        ctx: Context,
        status: Annotated[Status, Field(description="open (default), done, or all")] = "open",
        priority: Priority | None = None,
        tag: Tag | None = None,
        due_before: Annotated[DateText | None, Field(description="Only tasks due before this date (not on it)")] = None,
        overdue: Annotated[bool, Field(description="Only open tasks whose due date has passed")] = False,
        search: Annotated[SearchText | None, Field(description="Words in the title or description")] = None,
        sort: Annotated[SortKey, Field(description="created (task number), due, or priority")] = "created",
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> TaskList:
        """List the user's tasks with filters and sorting; returns the page of tasks and the total count."""
        who, before = caller(ctx), day(ctx, "due_before", due_before)
        async with db.connection() as conn:
            tasks, total = await store.list_tasks(
                conn,
                who.user_id,
                status=status,
                priority=priority,
                tag=tag,
                due_before=before,
                overdue=overdue,
                today=who.today(),
                search=search,
                sort=sort,
                limit=limit,
                offset=offset,
            )
            return TaskList(tasks=tasks, total=total)

    @mcp.tool(name=names.COMPLETE_TASK, title="Complete a task", meta=FOR_MODEL, annotations=CHANGE)
    async def complete_task(ctx: Context, task_id: TaskNumber) -> TaskOut:
        """Mark a task as done."""
        async with db.connection() as conn:
            return await store.set_completed(conn, caller(ctx).user_id, task_id, True)

    @mcp.tool(name=names.REOPEN_TASK, title="Reopen a task", meta=FOR_MODEL, annotations=CHANGE)
    async def reopen_task(ctx: Context, task_id: TaskNumber) -> TaskOut:
        """Mark a done task as open again."""
        async with db.connection() as conn:
            return await store.set_completed(conn, caller(ctx).user_id, task_id, False)

    @mcp.tool(name=names.UPDATE_TASK, title="Update a task", meta=FOR_MODEL, annotations=CHANGE)
    async def update_task(
        ctx: Context,
        task_id: TaskNumber,
        title: Title | None = None,
        description: Description | None = None,
        priority: Priority | None = None,
        due_date: DateText | None = None,
        clear_due_date: Annotated[bool, Field(description="Remove the due date")] = False,
        tags: Annotated[Tags | None, Field(description="Replaces all tags; [] removes them")] = None,
    ) -> TaskOut:
        """Change any fields of a task; fields left out stay as they are."""
        if clear_due_date and due_date is not None:
            raise InvalidArguments("Give either due_date or clear_due_date, not both. Nothing was changed.")
        changes: dict[str, Any] = {
            field: value
            for field, value in {
                "title": title,
                "description": description,
                "priority": priority,
                "due_date": day(ctx, "due_date", due_date),
                "tags": tags,
            }.items()
            if value is not None
        }
        if clear_due_date:
            changes["due_date"] = None
        async with db.connection() as conn:
            return await store.update_task(conn, caller(ctx).user_id, task_id, changes)

    @mcp.tool(name=names.DELETE_TASK, title="Delete a task", meta=FOR_MODEL, annotations=DELETE)
    async def delete_task(ctx: Context, task_id: TaskNumber) -> DeletedTask:
        """Delete a task for good; its number is not reused."""
        async with db.connection() as conn:
            return DeletedTask(task=await store.delete_task(conn, caller(ctx).user_id, task_id))


def register_conversation_tools(mcp: MCPServer, db: Database) -> None:
    @mcp.tool(name=names.CREATE_CONVERSATION, title="Start a conversation", annotations=CREATE)
    async def create_conversation(
        ctx: Context,
        title: ConversationTitle = "",
    ) -> ConversationOut:
        """Start a new, empty conversation."""
        async with db.connection() as conn:
            return await store.create_conversation(conn, caller(ctx).user_id, given_title(title))

    @mcp.tool(name=names.LIST_CONVERSATIONS, title="List conversations", annotations=READ)
    async def list_conversations(ctx: Context, limit: Limit = 20, offset: Offset = 0) -> ConversationList:
        """List the user's conversations, most recently active first."""
        async with db.connection() as conn:
            conversations, total = await store.list_conversations(conn, caller(ctx).user_id, limit=limit, offset=offset)
            return ConversationList(conversations=conversations, total=total)

    @mcp.tool(name=names.SEARCH_CONVERSATIONS, title="Search conversations", annotations=READ)
    async def search_conversations(ctx: Context, query: ConversationQuery, limit: Limit = 20) -> ConversationSearch:
        """Find the user's conversations whose title or messages (the user's and the assistant's, not tool results)
        hold every word of the query, the last word as a prefix; best match first, each with a snippet."""
        async with db.connection() as conn:
            hits, total = await store.search_conversations(conn, caller(ctx).user_id, query, limit=limit)
            return ConversationSearch(conversations=hits, total=total)

    @mcp.tool(name=names.GET_CONVERSATION, title="Read a conversation", annotations=READ)
    async def get_conversation(
        ctx: Context,
        conversation_id: ConversationId,
        limit: Annotated[
            MessageLimit | None, Field(description="Only the most recent N messages (all if omitted)")
        ] = None,
    ) -> ConversationWithMessages:
        """A conversation with its messages in order (tool calls and results included)."""
        async with db.connection() as conn:
            conversation = await store.get_conversation(conn, caller(ctx).user_id, conversation_id)
            messages = await store.recent_messages(conn, conversation_id, limit)
            total = await store.count_messages(conn, conversation_id) if limit is not None else len(messages)
            return ConversationWithMessages(
                **conversation.model_dump(),
                messages=messages,
                total_messages=total,
            )

    @mcp.tool(name=names.APPEND_MESSAGES, title="Append messages", annotations=CREATE)
    async def append_messages(
        ctx: Context,
        conversation_id: ConversationId,
        messages: Messages,
        idempotency_key: IdempotencyKey | None = None,
        recent: Recent = 0,
    ) -> AppendResult:
        """Append messages to a conversation, all or none; a retry with the same idempotency_key stores nothing."""
        async with db.transaction() as conn:  # the conversation stays locked until the batch is in
            appended, total = await store.append_messages(
                conn, caller(ctx).user_id, conversation_id, messages, idempotency_key=idempotency_key
            )
            return AppendResult(
                conversation_id=conversation_id,
                appended=appended,
                total_messages=total,
                messages=await store.recent_messages(conn, conversation_id, recent) if recent else [],
            )

    @mcp.tool(name=names.RENAME_CONVERSATION, title="Rename a conversation", annotations=CHANGE)
    async def rename_conversation(
        ctx: Context, conversation_id: ConversationId, title: NewConversationTitle
    ) -> ConversationOut:
        """Give a conversation a new title; it keeps its place in the list (updated_at is its last activity)."""
        async with db.connection() as conn:
            return await store.rename_conversation(conn, caller(ctx).user_id, conversation_id, given_title(title))

    @mcp.tool(name=names.DELETE_CONVERSATION, title="Delete a conversation", annotations=DELETE)
    async def delete_conversation(ctx: Context, conversation_id: ConversationId) -> DeletedConversation:
        """Delete a conversation and all its messages."""
        async with db.connection() as conn:
            await store.delete_conversation(conn, caller(ctx).user_id, conversation_id)
            return DeletedConversation(conversation_id=conversation_id)


def register_token_tools(mcp: MCPServer, db: Database, authenticator: Authenticator) -> None:
    @mcp.tool(
        name=names.CREATE_ACCESS_TOKEN, title="Create a personal access token", meta=SIGNED_IN_ONLY, annotations=CREATE
    )
    async def create_access_token(
        ctx: Context,
        name: TokenName,
        expires_in_days: ExpiresInDays | None = None,
    ) -> NewAccessToken:
        """Create a personal access token for the user's own MCP clients and notebooks; the token is in this
        answer only (only its hash is kept)."""
        async with db.connection() as conn:
            return await tokens.create(conn, caller(ctx).user_id, name, expires_in_days)

    @mcp.tool(name=names.LIST_ACCESS_TOKENS, title="List personal access tokens", meta=SIGNED_IN_ONLY, annotations=READ)
    async def list_access_tokens(ctx: Context) -> AccessTokenList:
        """The user's active personal access tokens, newest first (never the tokens themselves)."""
        async with db.connection() as conn:
            return AccessTokenList(tokens=await tokens.list_active(conn, caller(ctx).user_id))

    @mcp.tool(
        name=names.REVOKE_ACCESS_TOKEN, title="Revoke a personal access token", meta=SIGNED_IN_ONLY, annotations=DELETE
    )
    async def revoke_access_token(
        ctx: Context, token_id: Annotated[uuid.UUID, Field(description="The token's id, from list_access_tokens.")]
    ) -> RevokedAccessToken:
        """Revoke a personal access token: it stops working at once."""
        async with db.connection() as conn:
            hashed = await tokens.revoke(conn, caller(ctx).user_id, token_id)
        authenticator.forget(hashed)
        return RevokedAccessToken(token_id=token_id)
