"""Who is signed in: one demo user, a header set by a trusted auth proxy, or Streamlit's own OIDC login."""

import streamlit as st

from app.settings import UISettings


def current_user(settings: UISettings) -> str:
    """The signed-in user's id; draws a clear page and stops the script when there is none."""
    if settings.auth_mode == "none":
        return settings.default_user
    if settings.auth_mode == "header":
        user = (st.context.headers.get(settings.auth_header) or "").strip()
        if not user:
            st.error(
                f"Not signed in: this page expects the `{settings.auth_header}` header from the sign-in proxy in "
                "front of it. Open the app through that proxy (or ask your administrator to check its setup)."
            )
            st.stop()
        return user
    if not st.user.is_logged_in:
        st.title("Todo chat")
        st.write("Sign in to see your tasks.")
        st.button("Sign in", on_click=st.login, type="primary")
        st.stop()
    return str(st.user.get("email") or st.user.get("sub"))
