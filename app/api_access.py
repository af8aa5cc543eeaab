"""The "API access" dialog: personal access tokens for the user's own notebooks and MCP clients.

A token is shown once, right after it is made (only its hash is kept); the list shows when each was made and last
used, and revokes one at once. Everything goes through the MCP server's token tools, as the signed-in user.
"""

import datetime as dt

import streamlit as st

from app.client import ServiceUnavailable, TodoClient, ToolError
from contract.schemas import AccessTokenOut

EXPIRY_CHOICES = {"30 days": 30, "90 days": 90, "1 year": 365, "Never": None}


def when(moment: dt.datetime | None, empty: str = "never") -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else empty


def token_line(token: AccessTokenOut) -> str:
    expiry = f"expires {when(token.expires_at)}" if token.expires_at else "no expiry"
    return f"**{token.name}** · made {when(token.created_at)} · last used {when(token.last_used_at)} · {expiry}"


@st.dialog("API access", width="large")
def api_access(todo: TodoClient, mcp_url: str) -> None:
    st.caption(
        "Personal access tokens let your notebooks and MCP clients (the MCP Inspector, IDE and desktop assistants) "
        f"read and change **your** tasks on `{mcp_url}`. Treat a token like a password."
    )
    with st.form("new-token", border=False):
        name = st.text_input("Token name", placeholder="e.g. notebook, VS Code", max_chars=100)
        expiry = st.selectbox("Expires after", list(EXPIRY_CHOICES), index=1)
        create = st.form_submit_button("Create token", type="primary")
    if create:
        try:
            made = todo.create_access_token(name, expires_in_days=EXPIRY_CHOICES[expiry])
        except (ToolError, ServiceUnavailable) as exc:
            st.error(str(exc))  # the form keeps what was typed
        else:
            st.success("Copy the token now: it is not shown again.")
            st.code(made.token, language=None)
            st.caption("In a notebook:")
            st.code(f'todo = TodoClient.open("{mcp_url}", token="{made.token}")', language="python")
    try:
        tokens = todo.list_access_tokens()
    except (ToolError, ServiceUnavailable) as exc:
        st.warning(f"Tokens could not be loaded: {exc}")
        return
    st.markdown("**Your tokens**" if tokens else "No tokens yet.")
    for token in tokens:
        line, revoke = st.columns([6, 1], vertical_alignment="center")
        line.markdown(token_line(token))
        if revoke.button("Revoke", key=f"revoke-{token.token_id}", help=f"Revoke “{token.name}” now"):
            try:
                todo.revoke_access_token(token.token_id)
            except (ToolError, ServiceUnavailable) as exc:
                st.error(str(exc))
            else:
                st.rerun(scope="fragment")
