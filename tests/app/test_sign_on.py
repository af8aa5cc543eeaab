"""Single sign-on in a real browser: the page (AUTH_MODE=oidc, `python -m app`) signs people in at a real OpenID
provider (devtools/oidc.py), and forwards each user's own access token to an MCP server that checks it. The page
is given no service token at all, so every tool call of a turn carries the signed-in user's token."""

import contextlib
import json
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx2
import pytest
from itsdangerous import URLSafeTimedSerializer
from playwright.sync_api import BrowserContext, Page, expect

from app.client import McpConnection, TodoClient
from devtools.oidc import ALICE, BOB, OidcClient, OidcProvider, OidcUser
from devtools.servers import free_port
from mcp_server.server import build_app
from tests.app.support.browser import Pages, StreamlitApp, ready, say, settled, streamlit_app
from tests.conftest import make_settings
from tests.support import TOKEN, ServerThread

pytestmark = pytest.mark.browser
COOKIE_SECRET = secrets.token_hex(32)
USER_COOKIE = "_streamlit_user"  # Streamlit's signed cookie of the signed-in user
SIGN_IN_TEXT = "Sign in with your company account to see your tasks."
EXPIRED_TEXT = "Your sign-in has expired."


@dataclass(frozen=True)
class SignOn:
    """A provider, and an MCP server that trusts it (and still knows the test service token, for checks)."""

    provider: OidcProvider
    mcp: ServerThread
    client: OidcClient

    @property
    def mcp_url(self) -> str:
        return f"{self.mcp.base_url}/mcp"

    def page_settings(self, redirect_port: int) -> dict[str, str]:
        """oidc mode with this provider and client, and no MCP_AUTH_TOKEN: the page sends the user's own token."""
        return {
            "MCP_URL": self.mcp_url,
            "AUTH_MODE": "oidc",
            "OIDC_ISSUER": self.provider.issuer,
            "OIDC_CLIENT_ID": self.client.client_id,
            "OIDC_CLIENT_SECRET": self.client.client_secret,
            "OIDC_REDIRECT_URL": f"http://127.0.0.1:{redirect_port}/oauth2callback",
            "OIDC_COOKIE_SECRET": COOKIE_SECRET,
        }

    def calls_by_credential(self) -> dict[str, float]:
        """The MCP server's count of requests let in, by credential (mcp_requests_by_credential_total)."""
        text = httpx2.get(f"{self.mcp.base_url}/metrics", timeout=10).text
        found = re.findall(r'^mcp_requests_by_credential_total\{credential="(\w+)"\} (\S+)$', text, re.M)
        return {credential: float(count) for credential, count in found}

    def titles_of(self, user: OidcUser, search: str) -> list[str]:
        with McpConnection(self.mcp_url, TOKEN) as connection:
            tasks = TodoClient(connection, acting_for=user.email).list_tasks(status="all", search=search).tasks
        return [task.title for task in tasks]


@contextlib.contextmanager
def sign_on(database_url: str, page_ports: list[int], **provider_options: int) -> Iterator[SignOn]:
    mcp_port = free_port()
    audience = f"http://127.0.0.1:{mcp_port}/mcp"
    callbacks = tuple(f"http://127.0.0.1:{port}/oauth2callback" for port in page_ports)
    # Streamlit sends people back to the callback URL after the provider's sign-out, too.
    client = OidcClient("todo-page", secrets.token_urlsafe(16), callbacks, post_logout_redirect_uris=callbacks)
    with OidcProvider(audience=audience, clients=[client], **provider_options) as provider:
        settings = make_settings(database_url, mcp_oidc_issuer=provider.issuer, mcp_oidc_audience=audience)
        mcp = ServerThread(build_app(settings), port=mcp_port).start()
        try:
            yield SignOn(provider, mcp, client)
        finally:
            mcp.stop()


@pytest.fixture(scope="module")
def ports() -> dict[str, int]:
    return {name: free_port() for name in ("page", "replica_a", "replica_b")}


@pytest.fixture(scope="module")
def sso(database_url: str, ports: dict[str, int]) -> Iterator[SignOn]:
    with sign_on(database_url, list(ports.values())) as started:
        yield started


@pytest.fixture(scope="module")
def page_app(sso: SignOn, ports: dict[str, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitApp]:
    log = tmp_path_factory.mktemp("streamlit") / "sso.log"
    with streamlit_app(log, port=ports["page"], **sso.page_settings(ports["page"])) as app:
        yield app


def sign_in(page: Page, user: OidcUser, password: str | None = None) -> None:
    """From the page's sign-in screen through the provider's form."""
    expect(page.get_by_text(SIGN_IN_TEXT).or_(page.get_by_text(EXPIRED_TEXT))).to_be_visible()
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_label("Username")).to_be_visible()  # the provider's page now
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password or user.password)
    page.get_by_role("button", name="Sign in").click()


def signed_in_as(page: Page, user: OidcUser) -> None:
    ready(page)
    expect(page.get_by_test_id("stSidebar")).to_contain_text(f"Signed in as {user.name} · {user.email}")


def user_cookie(context: BrowserContext) -> dict[str, object]:
    [cookie] = [cookie for cookie in context.cookies() if cookie["name"] == USER_COOKIE]
    return dict(cookie)


def test_alice_signs_in_adds_a_task_signs_out_and_bob_does_not_see_it(
    pages: Pages, sso: SignOn, page_app: StreamlitApp
) -> None:
    page = pages.open(page_app.url)
    sign_in(page, ALICE)
    signed_in_as(page, ALICE)

    title = f"oat milk {uuid.uuid4().hex[:6]}"
    before = sso.calls_by_credential()
    say(page, f"add {title}")
    expect(page.get_by_test_id("stDataFrame")).to_contain_text(title)
    after = sso.calls_by_credential()
    # Every call of the turn came with alice's own access token: the page holds no service token to send.
    assert after.get("oidc", 0) > before.get("oidc", 0)
    assert after.get("service", 0) == before.get("service", 0)
    assert sso.titles_of(ALICE, title) == [title]

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text(SIGN_IN_TEXT)).to_be_visible()
    assert USER_COOKIE not in {cookie["name"] for cookie in page.context.cookies()}

    sign_in(page, BOB)  # the provider's session ended too: it asks again, and bob signs in
    signed_in_as(page, BOB)
    settled(page)
    expect(page.get_by_test_id("stApp")).not_to_contain_text(title)  # neither her task nor her conversation
    assert sso.titles_of(BOB, title) == []
    page_app.assert_clean_log()


def test_a_wrong_password_stays_on_the_providers_page(pages: Pages, sso: SignOn, page_app: StreamlitApp) -> None:
    page = pages.open(page_app.url)
    sign_in(page, ALICE, password="not-alices-password")
    expect(page.get_by_text("Wrong username or password.")).to_be_visible()
    assert page.url.startswith(sso.provider.issuer)
    assert USER_COOKIE not in {cookie["name"] for cookie in page.context.cookies()}
    expect(page.get_by_label("Username")).to_be_visible()  # ready for another try


def test_a_session_cookie_not_signed_with_the_cookie_secret_is_not_accepted(
    pages: Pages, sso: SignOn, page_app: StreamlitApp
) -> None:
    page = pages.open(page_app.url)
    sign_in(page, ALICE)
    signed_in_as(page, ALICE)
    cookie = user_cookie(page.context)
    claims = json.loads(URLSafeTimedSerializer(COOKIE_SECRET, salt=USER_COOKIE).loads(str(cookie["value"])))
    as_bob = json.dumps({**claims, "email": BOB.email, "name": BOB.name, "sub": BOB.username})

    # Signed with any other secret (all an attacker can do), it counts for nothing: the sign-in page again.
    forged = URLSafeTimedSerializer("not-the-cookie-secret", salt=USER_COOKIE).dumps(as_bob)
    page.context.add_cookies([{**cookie, "value": forged}])  # type: ignore[list-item]
    page.reload()
    expect(page.get_by_text(SIGN_IN_TEXT)).to_be_visible()
    expect(page.get_by_test_id("stSidebar")).not_to_be_visible()

    # The same cookie signed with the secret is accepted: what decides is the signature, not the cookie's shape.
    genuine = URLSafeTimedSerializer(COOKIE_SECRET, salt=USER_COOKIE).dumps(as_bob)
    page.context.add_cookies([{**cookie, "value": genuine}])  # type: ignore[list-item]
    page.reload()
    expect(page.get_by_test_id("stSidebar")).to_contain_text(f"Signed in as {BOB.name} · {BOB.email}")


def test_any_replica_sharing_the_cookie_secret_finishes_a_sign_in(
    pages: Pages, sso: SignOn, ports: dict[str, int], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Sign-in starts on replica A and the provider sends the browser back to replica B: B finishes it, because
    the sign-in state rides in a cookie signed with the shared secret. No sticky sessions are needed for it."""
    folder = tmp_path_factory.mktemp("replicas")
    to_b = sso.page_settings(redirect_port=ports["replica_b"])
    with (
        streamlit_app(folder / "a.log", port=ports["replica_a"], **to_b) as replica_a,
        streamlit_app(folder / "b.log", port=ports["replica_b"], **to_b) as replica_b,
    ):
        page = pages.open(replica_a.url)
        sign_in(page, ALICE)
        signed_in_as(page, ALICE)
        assert page.url.startswith(replica_b.url)


def test_an_expired_identity_token_signs_the_user_out(
    pages: Pages, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    port = free_port()
    with sign_on(database_url, [port], id_token_ttl=20) as short:
        log = tmp_path_factory.mktemp("streamlit") / "expiring.log"
        with streamlit_app(log, port=port, **short.page_settings(port)) as app:
            page = pages.open(app.url)
            sign_in(page, ALICE)
            signed_in_as(page, ALICE)
            claims = json.loads(
                URLSafeTimedSerializer(COOKIE_SECRET, salt=USER_COOKIE).loads(str(user_cookie(page.context)["value"]))
            )
            time.sleep(max(0.0, claims["exp"] - time.time()) + 1)  # until the token's own expiry has passed
            page.reload()
            expect(page.get_by_text(EXPIRED_TEXT)).to_be_visible()
            expect(page.get_by_test_id("stSidebar")).not_to_be_visible()  # nothing of alice's is drawn
            sign_in(page, ALICE)
            signed_in_as(page, ALICE)
