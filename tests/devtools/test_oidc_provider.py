"""The OpenID Connect provider of the tests (oidc-provider on loopback, devtools/oidc.py), checked over real HTTP
with PyJWT against its published keys: discovery, JWT access tokens for the audience, the sign-in form, prompts,
logout, key rotation, token lifetimes, and how the process lives and dies."""

from __future__ import annotations

import html
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest

import devtools.oidc
from devtools.oidc import ALICE, BOB, OidcClient, OidcProvider, OidcUser, SignInError, SigningKey
from devtools.servers import ROOT

AUDIENCE = "http://127.0.0.1:8000/mcp"
CLIENT = OidcClient(
    client_id="todo-page",
    client_secret="todo-page-secret-0123456789abcdef",
    redirect_uris=("http://localhost:8501/oauth2callback",),
    post_logout_redirect_uris=("http://localhost:8501/",),
)


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    with OidcProvider(audience=AUDIENCE, clients=[CLIENT]) as running:
        yield running


def browser() -> httpx2.Client:
    """A cookie-keeping HTTP client that follows nothing by itself, as the sign-in helpers expect."""
    return httpx2.Client(timeout=10, trust_env=False, follow_redirects=False)


def verified(provider: OidcProvider, token: str, *, audience: str) -> dict[str, Any]:
    """The token's claims, checked against the provider's published JWKS, issuer and the given audience."""
    key = jwt.PyJWKClient(provider.discovery()["jwks_uri"]).get_signing_key_from_jwt(token)
    return jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=provider.issuer)


def published_kids(provider: OidcProvider) -> set[str]:
    keys = httpx2.get(provider.discovery()["jwks_uri"], trust_env=False).json()["keys"]
    return {key["kid"] for key in keys}


def follow(http: httpx2.Client, response: httpx2.Response, *, stop_at: str) -> httpx2.Response:
    """Follow redirects until a page, or a redirect to `stop_at` (returned, not fetched)."""
    for _ in range(20):
        if not response.is_redirect:
            return response
        location = str(response.url.join(response.headers["location"]))
        if location.startswith(stop_at):
            return response
        response = http.get(location)
    raise AssertionError("too many redirects")


def login_page(provider: OidcProvider, http: httpx2.Client, **request: Any) -> httpx2.Response:
    authorization = provider.authorization_request(CLIENT, **request)
    return follow(http, http.get(authorization.url), stop_at=CLIENT.redirect_uris[0])


def assert_is_the_login_form(page: httpx2.Response) -> None:
    assert page.status_code == 200, page.text
    assert "<title>Sign in</title>" in page.text
    assert re.search(r"<label[^>]*>Username</label>", page.text)
    assert re.search(r"<label[^>]*>Password</label>", page.text)
    assert 'name="username"' in page.text and 'name="password"' in page.text
    assert re.search(r"<button[^>]*>Sign in</button>", page.text)


def form_posts(http: httpx2.Client) -> list[str]:
    """Record the sign-in form submissions (POSTs to /interaction/...) made through `http`."""
    posts: list[str] = []

    def record(request: httpx2.Request) -> None:
        if request.method == "POST" and request.url.path.startswith("/interaction/"):
            posts.append(str(request.url))

    http.event_hooks["request"].append(record)
    return posts


# ---- discovery and tokens -------------------------------------------------------------------------------------


def test_discovery_names_the_issuer_keys_logout_and_s256(provider: OidcProvider) -> None:
    response = httpx2.get(provider.discovery_url, trust_env=False)

    assert response.status_code == 200
    metadata = response.json()
    assert metadata["issuer"] == provider.issuer == f"http://127.0.0.1:{provider.port}"
    assert metadata["jwks_uri"].startswith(provider.issuer)
    assert metadata["end_session_endpoint"].startswith(provider.issuer)
    assert metadata["userinfo_endpoint"].startswith(provider.issuer)
    assert "S256" in metadata["code_challenge_methods_supported"]
    assert {"client_secret_basic", "client_secret_post"} <= set(metadata["token_endpoint_auth_methods_supported"])
    assert {"openid", "email", "profile"} <= set(metadata["scopes_supported"])
    assert metadata["response_types_supported"] == ["code"]
    assert published_kids(provider) == {key.kid for key in provider.keys}


def test_alice_gets_a_jwt_access_token_for_the_audience_and_an_id_token(provider: OidcProvider) -> None:
    tokens = provider.sign_in(ALICE, CLIENT)

    assert tokens["token_type"] == "Bearer"
    header = jwt.get_unverified_header(tokens["access_token"])
    assert header["alg"] == "RS256" and header["kid"] == provider.keys[0].kid
    claims = verified(provider, tokens["access_token"], audience=AUDIENCE)
    assert claims["aud"] == AUDIENCE and claims["iss"] == provider.issuer
    assert claims["sub"] == "alice" and claims["email"] == ALICE.email
    assert claims["client_id"] == CLIENT.client_id
    assert set(claims["scope"].split()) == {"openid", "email", "profile"}
    assert claims["exp"] > claims["iat"]

    identity = verified(provider, tokens["id_token"], audience=CLIENT.client_id)
    assert jwt.get_unverified_header(tokens["id_token"])["kid"] == provider.keys[0].kid
    assert identity["sub"] == "alice" and identity["email"] == ALICE.email and identity["name"] == ALICE.name
    assert identity["email_verified"] is True


def test_bob_signs_in_with_client_secret_post_and_an_explicit_resource(provider: OidcProvider) -> None:
    tokens = provider.sign_in(BOB, CLIENT, client_auth="client_secret_post", resource=AUDIENCE)

    claims = verified(provider, tokens["access_token"], audience=AUDIENCE)
    assert claims["sub"] == "bob" and claims["email"] == BOB.email


def test_an_unknown_resource_is_refused(provider: OidcProvider) -> None:
    with pytest.raises(SignInError, match="invalid_target"):
        provider.sign_in(ALICE, CLIENT, resource="http://127.0.0.1:9/elsewhere")


def test_a_wrong_client_secret_gets_no_tokens(provider: OidcProvider) -> None:
    impostor = OidcClient(CLIENT.client_id, "not-the-secret", CLIENT.redirect_uris)

    with pytest.raises(SignInError, match="401") as failure:
        provider.sign_in(ALICE, impostor)
    assert failure.value.status == 401


def test_userinfo_answers_the_access_token_with_the_users_claims(provider: OidcProvider) -> None:
    tokens = provider.sign_in(ALICE, CLIENT)
    userinfo = provider.discovery()["userinfo_endpoint"]

    answer = httpx2.get(userinfo, headers={"Authorization": f"Bearer {tokens['access_token']}"}, trust_env=False)
    forged = SigningKey.generate(provider.keys[0].kid).sign(
        {"iss": provider.issuer, "sub": "alice", "aud": AUDIENCE, "scope": "openid", "exp": time.time() + 60}
    )
    refused = httpx2.get(userinfo, headers={"Authorization": f"Bearer {forged}"}, trust_env=False)

    assert answer.status_code == 200
    assert answer.json() == {"sub": "alice", "email": ALICE.email, "email_verified": True, "name": ALICE.name}
    assert refused.status_code == 401


# ---- the sign-in form and prompts -----------------------------------------------------------------------------


def test_a_wrong_password_brings_the_form_back_and_issues_no_code(provider: OidcProvider) -> None:
    with browser() as http:
        form = login_page(provider, http)
        assert_is_the_login_form(form)
        action = html.unescape(re.search(r'<form[^>]*action="([^"]+)"', form.text).group(1))

        again = http.post(str(form.url.join(action)), data={"username": "alice", "password": "not-her-password"})

        assert again.status_code == 200 and again.url == form.url
        assert "Wrong username or password." in again.text
        assert_is_the_login_form(again)
        assert "location" not in again.headers
        # Nobody was signed in: without a prompt, the next authorization still asks.
        assert_is_the_login_form(login_page(provider, http, prompt=None))

    with pytest.raises(SignInError, match=r"Wrong username or password\.") as failure:
        provider.sign_in(OidcUser("alice", "not-her-password", ALICE.email, ALICE.name), CLIENT)
    assert failure.value.status == 200 and "/interaction/" in failure.value.url
    with pytest.raises(SignInError, match=r"Wrong username or password\."):
        provider.sign_in(OidcUser("mallory", "anything", "mallory@example.com", "Mallory"), CLIENT)


def test_prompt_select_account_shows_the_login_form_even_in_a_session(provider: OidcProvider) -> None:
    with browser() as http:
        assert_is_the_login_form(login_page(provider, http, prompt="select_account"))

        provider.sign_in(ALICE, CLIENT, http=http)
        assert_is_the_login_form(login_page(provider, http, prompt="select_account"))
        tokens = provider.sign_in(BOB, CLIENT, prompt="select_account", http=http)

    assert verified(provider, tokens["access_token"], audience=AUDIENCE)["sub"] == "bob"


def test_prompt_login_shows_the_form_and_no_prompt_reuses_the_session(provider: OidcProvider) -> None:
    with browser() as http:
        posts = form_posts(http)
        provider.sign_in(ALICE, CLIENT, http=http)
        assert len(posts) == 1

        assert_is_the_login_form(login_page(provider, http, prompt="login"))
        tokens = provider.sign_in(ALICE, CLIENT, prompt=None, http=http)

    assert len(posts) == 1  # single sign-on: no form the second time
    assert verified(provider, tokens["id_token"], audience=CLIENT.client_id)["email"] == ALICE.email


def test_logout_needs_no_click_and_returns_to_the_client(provider: OidcProvider) -> None:
    after_logout = CLIENT.post_logout_redirect_uris[0]
    with browser() as http:
        posts = form_posts(http)
        tokens = provider.sign_in(ALICE, CLIENT, http=http)

        confirm = http.get(
            provider.discovery()["end_session_endpoint"],
            params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": after_logout, "state": "s1"},
        )
        assert confirm.status_code == 200
        form = re.search(r'<form id="op.logoutForm"[^>]*action="([^"]+)"[^>]*>(.*?)</form>', confirm.text)
        assert form is not None and "getElementById('op.logoutForm').submit()" in confirm.text
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(2)))
        assert fields["logout"] == "yes"  # what the confirmation button would have added

        done = http.post(html.unescape(form.group(1)), data=fields)  # what the page's script does

        assert done.status_code in (302, 303) and done.headers["location"] == f"{after_logout}?state=s1"
        provider.sign_in(ALICE, CLIENT, prompt=None, http=http)
        assert len(posts) == 2  # the session was gone: the form again

        tokens = provider.sign_in(BOB, CLIENT, http=http)
        assert provider.sign_out(tokens["id_token"], post_logout_redirect_uri=after_logout, http=http) == after_logout
        assert provider.sign_out(tokens["id_token"], http=http).endswith("/session/end/success")
        provider.sign_in(BOB, CLIENT, prompt=None, http=http)
    assert len(posts) == 4


# ---- keys and lifetimes -------------------------------------------------------------------------------------------


def test_restart_with_a_new_key_publishes_it_and_signs_with_it() -> None:
    old, new = SigningKey.generate("old-key"), SigningKey.generate("new-key")
    with OidcProvider(audience=AUDIENCE, clients=[CLIENT], keys=[old]) as provider:
        port = provider.port
        before = provider.sign_in(ALICE, CLIENT)["access_token"]
        assert jwt.get_unverified_header(before)["kid"] == "old-key"

        provider.restart(keys=[new, old])  # rotation: sign with the new key, still publish the old one

        assert provider.port == port and provider.keys == (new, old)
        assert published_kids(provider) == {"new-key", "old-key"}
        tokens = provider.sign_in(ALICE, CLIENT)
        assert jwt.get_unverified_header(tokens["access_token"])["kid"] == "new-key"
        assert jwt.get_unverified_header(tokens["id_token"])["kid"] == "new-key"
        assert verified(provider, tokens["access_token"], audience=AUDIENCE)["sub"] == "alice"
        assert verified(provider, before, audience=AUDIENCE)["sub"] == "alice"

        provider.restart(keys=[new])  # the old key retired

        assert published_kids(provider) == {"new-key"}
        with pytest.raises(jwt.PyJWKClientError):
            verified(provider, before, audience=AUDIENCE)


def test_offline_access_gives_a_refresh_token_that_renews_the_jwt(provider: OidcProvider) -> None:
    tokens = provider.sign_in(ALICE, CLIENT, scope="openid email profile offline_access", prompt="login consent")

    renewed = httpx2.post(
        provider.discovery()["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(CLIENT.client_id, CLIENT.client_secret),
        trust_env=False,
    )

    assert renewed.status_code == 200, renewed.text
    claims = verified(provider, renewed.json()["access_token"], audience=AUDIENCE)
    assert claims["sub"] == "alice" and claims["email"] == ALICE.email


def test_short_lifetimes_show_in_the_tokens() -> None:
    with OidcProvider(audience=AUDIENCE, clients=[CLIENT], access_token_ttl=120, id_token_ttl=300) as provider:
        tokens = provider.sign_in(BOB, CLIENT)

    access = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    identity = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert access["exp"] - access["iat"] == 120 and tokens["expires_in"] == 120
    assert identity["exp"] - identity["iat"] == 300


def test_a_token_signed_with_the_providers_key_verifies_like_its_own(provider: OidcProvider) -> None:
    key = provider.keys[0]
    now = int(time.time())
    forged = key.sign({"iss": provider.issuer, "sub": "carol", "aud": AUDIENCE, "iat": now, "exp": now + 60})

    assert jwt.get_unverified_header(forged)["kid"] == key.kid
    assert verified(provider, forged, audience=AUDIENCE)["sub"] == "carol"
    assert set(key.public_jwk) == {"kty", "n", "e", "kid", "alg", "use"}  # nothing private published
    assert {"d", "p", "q"} <= set(key.private_jwk)


# ---- the process ----------------------------------------------------------------------------------------------


def test_its_configuration_is_private_and_its_log_keeps_no_secrets(provider: OidcProvider) -> None:
    tokens = provider.sign_in(ALICE, CLIENT)

    assert os.stat(provider.config_path).st_mode & 0o777 == 0o600
    assert os.stat(provider.config_path.parent).st_mode & 0o777 == 0o700
    log = provider.log()
    assert "oidc-provider ready at" in log and "POST /token 200" in log
    for secret in (ALICE.password, CLIENT.client_secret, tokens["access_token"], tokens["id_token"]):
        assert secret not in log


def test_stop_ends_it_with_sigterm_and_close_removes_its_files() -> None:
    provider = OidcProvider(audience=AUDIENCE, clients=[CLIENT]).start()
    folder = provider.config_path.parent

    assert provider.stop() == 0
    assert provider.stop() is None
    provider.close()
    assert not folder.exists()


def test_it_exits_when_the_python_process_that_started_it_dies() -> None:
    script = (
        "import sys; from devtools.oidc import OidcClient, OidcProvider\n"
        "client = OidcClient('c', 'secret-0123456789', ('http://localhost:1/cb',))\n"
        f"provider = OidcProvider(audience={AUDIENCE!r}, clients=[client]).start()\n"
        "print(provider.process.pid, provider.config_path.parent, flush=True)\n"
        "sys.stdin.read()\n"
    )
    folder, node_pid = "", 0
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        pid, folder = parent.stdout.readline().split(maxsplit=1)  # type: ignore[union-attr]
        node_pid = int(pid)
        assert _running(node_pid)

        os.kill(parent.pid, signal.SIGKILL)  # no cleanup: only the closed pipe tells the provider
        parent.wait(timeout=10)

        deadline = time.monotonic() + 30
        while _running(node_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(node_pid)
    finally:
        parent.kill()
        parent.wait(timeout=10)
        if node_pid and _running(node_pid):  # the failure case: leave no orphan behind
            os.kill(node_pid, signal.SIGKILL)
        if folder:  # what its close() would have removed
            shutil.rmtree(folder.strip(), ignore_errors=True)


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan may wait for a reaper that never comes in a container)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_missing_node_packages_say_how_to_install_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(devtools.oidc, "PROVIDER_DIR", tmp_path)
    provider = OidcProvider(audience=AUDIENCE, clients=[CLIENT])
    try:
        with pytest.raises(RuntimeError, match=r"node_modules is missing: run `bash tests/setup_system\.sh`"):
            provider.start()
    finally:
        provider.close()
