"""Who is signed in: one demo user, a header set by a trusted auth proxy, or Streamlit's own OIDC login.

In AUTH_MODE=oidc the user id is the identity token's OIDC_USER_CLAIM (email by default, else sub): the same value
the MCP server takes from the user's access token, so a person's tasks are the same whichever way they come in.
An identity token past its expiry (or, when the page forwards it, an access token past its own) no longer counts:
the page says so and offers to sign in again, and no call is made with it.
"""

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

import streamlit as st

from app.settings import OIDC_PROVIDER, UISettings


@dataclass(frozen=True)
class User:
    id: str  # what the MCP server knows the user by
    label: str  # what the page shows: "Alice Example · alice@example.com", or the id
    access_token: str | None = None  # the provider's, sent to the MCP server instead of the service token
    signs_out: bool = False  # the page offers "Sign out" (AUTH_MODE=oidc)


def current_user(settings: UISettings) -> User:
    """The signed-in user; draws a clear page and stops the script when there is none."""
    if settings.auth_mode == "none":
        return User(settings.default_user, settings.default_user)
    if settings.auth_mode == "header":
        user = (st.context.headers.get(settings.auth_header) or "").strip()
        if not user:
            st.error(
                f"Not signed in: this page expects the `{settings.auth_header}` header from the sign-in proxy in "
                "front of it. Open the app through that proxy (or ask your administrator to check its setup)."
            )
            st.stop()
        return User(user, user)
    return oidc_user(settings)


def oidc_user(settings: UISettings) -> User:
    if not st.user.is_logged_in:
        sign_in_page("Sign in with your company account to see your tasks.")
    claims: dict[str, Any] = st.user.to_dict()
    access_token = st.user.tokens.get("access") if settings.oidc_forward_access_token else None
    if expired(claims.get("exp")) or (access_token and expired(unverified_claims(access_token).get("exp"))):
        sign_in_page("Your sign-in has expired. Sign in again to go on; nothing you saved is lost.")
    user_id = claims.get(settings.oidc_user_claim) or claims.get("sub")
    if not user_id:
        st.error("The sign-in provider named no user (no `sub` claim). Ask your administrator to check its setup.")
        st.stop()
    if settings.oidc_forward_access_token and not access_token:
        st.error(
            "The sign-in provider gave no access token for the task service. Ask your administrator to check the "
            "provider (or to set OIDC_FORWARD_ACCESS_TOKEN=false, so the page names you with its service token)."
        )
        st.stop()
    name, email = claims.get("name"), claims.get("email")
    label = " · ".join(str(part) for part in dict.fromkeys([name, email]) if part) or str(user_id)
    return User(str(user_id), label, access_token, signs_out=True)


def sign_in_page(message: str) -> None:
    st.title("Todo chat")
    st.write(message)
    st.button("Sign in", on_click=st.login, args=(OIDC_PROVIDER,), type="primary")
    st.stop()


def expired(exp: object, now: float | None = None) -> bool:
    """Whether a token's `exp` (seconds since the epoch) has passed; a token without one does not expire here."""
    if not isinstance(exp, int | float):
        return False
    return (now if now is not None else time.time()) >= exp


def unverified_claims(token: str) -> dict[str, Any]:
    """A JWT's claims, read without checking its signature: only to know when the page stops sending it (the MCP
    server checks it). An opaque token has none."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}
