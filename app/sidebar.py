"""The sidebar's conversations: the recent ones (the open one highlighted), search by their text, and for each a
menu to rename it, export it (Markdown or JSON) or delete it (after a confirmation). Everything goes through the
MCP tools; the page keeps only the open conversation's id.
"""

import json
import uuid
from collections.abc import Callable

import streamlit as st

from app.client import ServiceUnavailable, TodoClient, ToolError
from app.offline.text import escape_markdown
from app.steps import steps_from_history
from app.views import step_summary
from contract import limits
from contract.schemas import ConversationOut, ConversationWithMessages

UNTITLED = "Untitled conversation"
RECENT = 30  # conversations listed
# At a phone's width Streamlit stacks columns: keep each conversation's row (its button and its menu) on one line.
ROW_STYLE = """<style>
[data-testid="stSidebar"] [data-testid="stHorizontalBlock"] { flex-wrap: nowrap; }
[data-testid="stSidebar"] [data-testid="stHorizontalBlock"] > [data-testid="stColumn"] { min-width: 0; }
</style>"""


def markdown_export(conversation: ConversationWithMessages) -> str:
    """The conversation as a person reads it: who said what, with each tool step's summary."""
    steps = steps_from_history(conversation.messages)
    lines = [f"# {conversation.title or UNTITLED}", "", f"Started {conversation.created_at:%Y-%m-%d %H:%M} UTC", ""]
    for message in conversation.messages:
        if message.role == "user":
            lines += [f"**You** ({message.created_at:%Y-%m-%d %H:%M}):", "", message.content, ""]
        elif message.role == "assistant":
            for call in message.tool_calls or []:
                if call.get("id") in steps:
                    lines.append(f"- _{step_summary(steps[call['id']])}_")
            if message.content:
                lines += ["", "**Assistant**:", "", message.content, ""]
    return "\n".join(lines).rstrip() + "\n"


def json_export(conversation: ConversationWithMessages) -> str:
    return json.dumps(conversation.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def exporter(todo: TodoClient, conversation_id: uuid.UUID, render: Callable[[ConversationWithMessages], str]):
    """The download's data, made when the button is clicked (the whole conversation is read only then)."""

    def make() -> str:
        return render(todo.get_conversation(conversation_id))

    return make


def file_stem(title: str) -> str:
    stem = "".join(char if char.isalnum() else "-" for char in title.lower()).strip("-")
    return "-".join(part for part in stem.split("-") if part)[:60] or "conversation"


@st.dialog("Delete this conversation?")
def confirm_delete(todo: TodoClient, item: ConversationOut, is_open: bool, on_deleted: Callable[[], None]) -> None:
    st.write(f"“{item.title or UNTITLED}” and all its messages will be deleted. This cannot be undone.")
    st.caption("Your tasks stay as they are.")
    delete, cancel = st.columns(2)
    if delete.button(":material/delete: Delete", type="primary", width="stretch", key="confirm-delete"):
        try:
            todo.delete_conversation(item.conversation_id)
        except (ServiceUnavailable, ToolError) as exc:
            st.error(str(exc))
            return
        if is_open:
            on_deleted()
        st.rerun()
    if cancel.button("Cancel", width="stretch", key="cancel-delete"):
        st.rerun()


def conversation_menu(todo: TodoClient, item: ConversationOut, is_open: bool, on_deleted: Callable[[], None]) -> None:
    cid, title = item.conversation_id, item.title or UNTITLED
    with st.popover(":material/more_vert:", type="tertiary", help=f"Rename, export or delete “{title}”"):
        with st.form(f"rename-{cid}", border=False):
            new_title = st.text_input("Name", value=item.title, max_chars=limits.TITLE_LENGTH, key=f"title-{cid}")
            if st.form_submit_button(":material/edit: Rename"):
                try:
                    todo.rename_conversation(cid, new_title)
                except (ServiceUnavailable, ToolError) as exc:
                    st.error(str(exc))  # the field keeps what was typed
                else:
                    st.rerun()
        stem = file_stem(title)
        st.download_button(
            ":material/download: Markdown",
            exporter(todo, cid, markdown_export),
            file_name=f"{stem}.md",
            mime="text/markdown",
            key=f"export-md-{cid}",
            on_click="ignore",
        )
        st.download_button(
            ":material/data_object: JSON",
            exporter(todo, cid, json_export),
            file_name=f"{stem}.json",
            mime="application/json",
            key=f"export-json-{cid}",
            on_click="ignore",
        )
        if st.button(":material/delete: Delete…", key=f"delete-{cid}"):
            confirm_delete(todo, item, is_open, on_deleted)


def conversation_list(
    todo: TodoClient,
    open_id: uuid.UUID | None,
    pick: Callable[[uuid.UUID | None], None],
) -> None:
    """The recent conversations, or those matching a search; `pick` opens one (None: a new one)."""
    st.html(ROW_STYLE)
    query = st.text_input(
        "Search conversations",
        placeholder="Search conversations",
        label_visibility="collapsed",
        max_chars=limits.SEARCH_LENGTH,
        key="conversation-search",
    ).strip()
    snippets: dict[uuid.UUID, str] = {}
    try:
        if query:
            hits = todo.search_conversations(query, limit=RECENT).conversations
            items = [
                ConversationOut(
                    conversation_id=hit.conversation_id,
                    title=hit.title,
                    created_at=hit.updated_at,
                    updated_at=hit.updated_at,
                )
                for hit in hits
            ]
            snippets = {hit.conversation_id: hit.snippet for hit in hits}
        else:
            items = todo.list_conversations(limit=RECENT).conversations
    except (ServiceUnavailable, ToolError) as exc:
        st.warning(str(exc))
        return
    if not items:
        st.caption(f"No conversation mentions “{query}”." if query else "No conversations yet.")
    for item in items:
        cid = item.conversation_id
        row, menu = st.columns([6, 1], gap="small", vertical_alignment="center")
        kind = "primary" if cid == open_id else "secondary"
        if row.button(item.title or UNTITLED, key=f"open-{cid}", type=kind, width="stretch"):
            pick(cid)
        if cid in snippets:
            row.caption(escape_markdown(snippets[cid]))
        with menu:
            conversation_menu(todo, item, cid == open_id, lambda: pick(None))
