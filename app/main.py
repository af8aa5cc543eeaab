"""The page: conversations in the sidebar, the chat on the left, the user's tasks on the right.

Session state holds only the conversation id (also in the URL as ?c=...); everything shown is read through the
MCP server on each run, so a reload, a new tab or a restarted UI process shows the same conversation.
"""

import datetime as dt
import sys
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `streamlit run app/main.py` from anywhere

from app.agent import Agent, Notice, StepFinished, StepStarted, TextDelta, TurnInterrupted
from app.api_access import api_access
from app.client import McpConnection, ServiceUnavailable, TodoClient, ToolError
from app.identity import current_user
from app.settings import UISettings, get_settings
from app.sidebar import conversation_list
from app.task_panel import ANCHOR as TASKS_ANCHOR
from app.task_panel import task_panel
from app.views import EARLIER, SHOWN, show_history, show_step, step_label
from contract.dates import time_zone, today_in
from contract.titles import title_from

MAYBE_SENT = "Your message may not have been saved: if it is not in the conversation after a reload, here it is:"
EXAMPLES = "`add 'send Q3 report' for Friday, high priority` · `what's open?` · `done with the report`"


@st.cache_resource
def services(settings: UISettings) -> tuple[McpConnection, Agent]:
    """One MCP connection and one agent per process (and per settings, which tests change)."""
    mcp = McpConnection(settings.mcp_url, settings.mcp_auth_token.get_secret_value(), timeout=settings.mcp_timeout)
    return mcp, Agent.from_settings(settings)


def set_conversation(conversation_id: uuid.UUID | None) -> None:
    if conversation_id is None:
        st.session_state.pop("conversation_id", None)
        st.query_params.pop("c", None)
    else:
        st.session_state["conversation_id"] = conversation_id
        st.query_params["c"] = str(conversation_id)


def browser_time_zone() -> ZoneInfo | None:
    """The browser's IANA time zone, when there is one and it is a known zone (else None: UTC counts)."""
    name = st.context.timezone
    if not name:
        return None
    try:
        return time_zone(name)
    except ValueError:  # a zone this machine does not know: counting in UTC beats refusing every call
        return None


def messages_shown(conversation_id: uuid.UUID) -> int:
    return int(st.session_state.get(f"shown-{conversation_id}", SHOWN))


def show_earlier(conversation_id: uuid.UUID) -> None:
    st.session_state[f"shown-{conversation_id}"] = messages_shown(conversation_id) + EARLIER


def pick_conversation(conversation_id: uuid.UUID | None) -> None:
    """Open a conversation from the sidebar (None: a new one)."""
    set_conversation(conversation_id)
    st.session_state["picked"] = True
    st.rerun()


def close_sidebar_on_a_phone() -> None:
    """On a narrow screen the sidebar covers the chat: close it once a conversation is picked (Streamlit has no
    call for it, so a script in the page, not in an iframe, clicks the sidebar's own close button; wide screens
    keep it open)."""
    st.html(
        """<script>
        if (window.innerWidth < 640) {
          document.querySelector('[data-testid="stSidebarCollapseButton"] button')?.click();
        }
        </script>""",
        unsafe_allow_javascript=True,
    )


def conversation_in_link() -> uuid.UUID | None:
    """The conversation the URL names (?c=...); a value that is not a UUID raises ValueError."""
    link = st.query_params.get("c")
    return uuid.UUID(link) if link else None


st.set_page_config(page_title="Todo chat", page_icon="✅", layout="wide")
# The task panel's column stays in view while a long chat scrolls (on a wide screen). A narrow one stacks the
# columns, the panel under the chat: a "Your tasks" link stays at the top right, one tap from the panel.
st.html(
    """<style>
    @media (min-width: 640px) {
      [data-testid="stColumn"]:has(.st-key-task-panel) { position: sticky; top: 4rem; align-self: flex-start; }
      .st-key-to-tasks { display: none; }
    }
    .st-key-to-tasks { position: fixed; top: 4.25rem; right: 1rem; z-index: 99; width: auto; }
    .st-key-to-tasks a {
      padding: 0.3rem 0.75rem; border-radius: 1rem; text-decoration: none;
      background: var(--st-secondary-background-color, #f0f2f6); box-shadow: 0 1px 4px rgba(0, 0, 0, 0.2);
    }
    </style>"""
)
settings = get_settings()
user = current_user(settings)
mcp, assistant = services(settings)
zone = browser_time_zone()
today = today_in(zone or dt.UTC)  # the user's: what the assistant and the tool server count "friday" from
# Each call carries the user's own access token (single sign-on), else the service token naming the user; and the
# browser's time zone.
if user.access_token:
    todo = TodoClient(mcp, token=user.access_token, timezone=zone.key if zone else None)
else:
    todo = TodoClient(mcp, acting_for=user.id, timezone=zone.key if zone else None)

# Which conversation: this session's, else the link's; one that is not this user's is simply not found. Only its
# most recent messages are read and drawn ("Show earlier" for more).
conversation_id: uuid.UUID | None = None
conversation = None
try:
    conversation_id = st.session_state.get("conversation_id") or conversation_in_link()
    if conversation_id is not None:
        conversation = todo.get_conversation(conversation_id, limit=messages_shown(conversation_id))
        set_conversation(conversation_id)
except (ValueError, ToolError):
    st.warning("Conversation not found. It may have been deleted, or the link is not yours. Starting a new one.")
    set_conversation(None)
    conversation_id = None
except ServiceUnavailable as exc:  # keep the conversation and the chat box: what is typed is shown back
    st.error(str(exc))

prompt = st.chat_input("Add, list, complete or change tasks…")
if prompt and conversation_id is None:  # made now, so the sidebar lists it (titled, highlighted) during the turn
    try:
        conversation_id = todo.create_conversation(title=title_from(prompt)).conversation_id
        set_conversation(conversation_id)
    except (ServiceUnavailable, ToolError):
        pass  # the turn below says so, and shows what was typed

with st.sidebar:
    st.title("✅ Todo chat")
    st.caption(f"Signed in as **{user.label}**")
    if user.signs_out:
        st.button(":material/logout: Sign out", on_click=st.logout)
    if st.button(":material/key: API access", help="Personal tokens for your notebooks and MCP clients"):
        api_access(todo, settings.mcp_public_url or settings.mcp_url)
    if assistant.llm is None:
        st.info("Offline assistant: no language model is configured (set OPENAI_API_KEY to use one).")
    else:
        st.caption(f"Model: `{settings.openai_model}`")
    if st.button(":material/add: New conversation", width="stretch"):
        pick_conversation(None)
    conversation_list(todo, conversation_id, pick_conversation)
    if st.session_state.pop("picked", False):
        close_sidebar_on_a_phone()

chat, tasks_column = st.columns([5, 6], gap="medium")

with chat:
    with st.container(key="to-tasks"):
        st.markdown(f"[:material/checklist: Your tasks](#{TASKS_ANCHOR})")
    if conversation is not None and conversation.total_messages > len(conversation.messages):
        earlier = conversation.total_messages - len(conversation.messages)
        st.button(
            f":material/history: Show earlier messages ({earlier} more)",
            on_click=show_earlier,
            args=(conversation.conversation_id,),
            type="tertiary",
        )
    if conversation is not None and conversation.messages:
        show_history(conversation.messages)
    elif not prompt:
        st.markdown(f"#### What do you need to get done?\nTry: {EXAMPLES}")

if prompt:
    with chat:
        with st.chat_message("user"):
            st.markdown(prompt)
        with st.chat_message("assistant"):
            steps = st.container()
            running: list[object] = []  # the status box of the step in progress

            def reply_text():  # the turn's text as it streams; tool steps are drawn above it as they happen
                assert conversation_id is not None
                for event in assistant.run_turn(todo, conversation_id, prompt, today=today):
                    if isinstance(event, TextDelta):
                        yield event.text
                    elif isinstance(event, StepStarted):
                        running.append(steps.status(step_label(event.name, event.arguments), state="running"))
                    elif isinstance(event, StepFinished):
                        with steps:
                            show_step(event.step, running.pop() if running else None)
                    elif isinstance(event, Notice):
                        steps.warning(event.text)

            try:
                if conversation_id is None:
                    conversation_id = todo.create_conversation().conversation_id
                    set_conversation(conversation_id)
                st.write_stream(reply_text())
            except TurnInterrupted as exc:
                st.error(f"{exc} Your message is saved in this conversation; ask again in a moment.")
            except (ServiceUnavailable, ToolError) as exc:
                if isinstance(exc, ServiceUnavailable) and exc.maybe_done:
                    st.error(f"{exc} {MAYBE_SENT}")
                else:
                    st.error(f"{exc} Your message was not sent; here it is to send again:")
                st.code(prompt, language=None, wrap_lines=True)


with tasks_column:
    task_panel(todo, today)
