"""Single sign-on at the MCP server: access tokens from a real OpenID provider (devtools/oidc.py, the npm package
oidc-provider on loopback) act for the user their email claim names; forged, stale, foreign and malformed tokens get
401 and change nothing; a key rotation is followed without a restart; clients discover the provider (RFC 9728)."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from app.client import McpConnection, TodoClient, TokenRefused
from devtools.oidc import ALICE, BOB, OidcClient, OidcProvider, SigningKey
from devtools.servers import free_port
from mcp_server.oidc import JwtVerifier, ProviderUnreachable, TokenRejected
from mcp_server.server import build_app
from tests.conftest import make_settings
from tests.mcp_server.support.node import NodeTools, run
from tests.support import TOKEN, TOKEN_TOOLS, ServerThread

CLIENT = OidcClient("todo-mcp-tests", "todo-mcp-tests-secret", ("http://127.0.0.1:9/callback",))


class SsoServer:
    """The MCP server with MCP_OIDC_ISSUER set, in this process, on the port its audience names."""

    def __init__(self, port: int):
        self.port = port
        self.url = f"http://127.0.0.1:{port}/mcp"

    @property
    def metadata_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/.well-known/oauth-protected-resource/mcp"


@pytest.fixture(scope="module")
def sso_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def provider(sso_port: int) -> Iterator[OidcProvider]:
    with OidcProvider(audience=f"http://127.0.0.1:{sso_port}/mcp", clients=[CLIENT]) as started:
        yield started


@pytest.fixture(scope="module")
def sso(database_url: str, provider: OidcProvider, sso_port: int) -> Iterator[SsoServer]:
    server = SsoServer(sso_port)
    settings = make_settings(
        database_url,
        mcp_oidc_issuer=provider.issuer,
        mcp_oidc_audience=server.url,
        mcp_oidc_jwks_cooldown_seconds=0,  # every unknown key id fetches the keys (the cooldown is tested alone)
    )
    thread = ServerThread(build_app(settings), port=sso_port).start()
    yield server
    thread.stop()


def access_token(provider: OidcProvider, user: Any = ALICE) -> str:
    return str(provider.sign_in(user, CLIENT)["access_token"])


def claims(provider: OidcProvider, **changes: Any) -> dict[str, Any]:
    """What the provider puts in alice's access token, with `changes` (None removes a claim)."""
    now = int(time.time())
    base = {
        "iss": provider.issuer,
        "aud": provider.audience,
        "sub": ALICE.username,
        "email": ALICE.email,
        "client_id": CLIENT.client_id,
        "scope": "openid email profile",
        "iat": now,
        "exp": now + 600,
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], body: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}.{b64(signature)}"


def hs256_with_the_public_key(provider: OidcProvider) -> str:
    """The classic confusion: HMAC keyed with the provider's public key (PEM), which anyone can read."""
    key = provider.keys[0]
    public = jwt_public_key_pem(key)
    header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims(provider)).encode())}"
    signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def jwt_public_key_pem(key: SigningKey) -> bytes:
    public = jwt.PyJWK(key.public_jwk).key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def forged(provider: OidcProvider, kind: str) -> str:
    key = provider.keys[0]
    now = int(time.time())
    match kind:
        case "expired":
            return key.sign(claims(provider, iat=now - 7200, exp=now - 3600))
        case "not yet valid":
            return key.sign(claims(provider, nbf=now + 3600))
        case "wrong audience":
            return key.sign(claims(provider, aud="http://127.0.0.1:1/some-other-api"))
        case "wrong issuer":
            return key.sign(claims(provider, iss="http://127.0.0.1:1/another-issuer"))
        case "no expiry":
            return key.sign(claims(provider, exp=None))
        case "no email":
            return key.sign(claims(provider, email=None))
        case "unknown key id":
            return SigningKey.generate(kid="never-published").sign(claims(provider))
        case "a key the issuer does not publish, under its key id":
            return SigningKey.generate(kid=key.kid).sign(claims(provider))
        case "alg none":
            return unsigned({"alg": "none", "typ": "JWT", "kid": key.kid}, claims(provider))
        case "HS256 signed with the public key":
            return hs256_with_the_public_key(provider)
        case "signature cut":
            return key.sign(claims(provider)).rsplit(".", 1)[0] + ".AAAA"
        case "garbage":
            return "eyJ.not-base64!.x"
    raise AssertionError(kind)


FORGED = [
    "expired",
    "not yet valid",
    "wrong audience",
    "wrong issuer",
    "no expiry",
    "no email",
    "unknown key id",
    "a key the issuer does not publish, under its key id",
    "alg none",
    "HS256 signed with the public key",
    "signature cut",
    "garbage",
]


def service(url: str, user: str) -> TodoClient:
    return TodoClient(McpConnection(url, TOKEN), acting_for=user)


def titles(url: str, user: str, search: str) -> list[str]:
    return [task.title for task in service(url, user).list_tasks(status="all", search=search, limit=200).tasks]


def post(url: str, token: str, body: dict[str, Any] | None = None, **headers: str) -> httpx2.Response:
    body = body or {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    sent = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18", **headers}
    return httpx2.post(url, json=body, headers={"Authorization": f"Bearer {token}", **sent}, timeout=10)


# --- the way in -------------------------------------------------------------------------------------------------


def test_a_signed_in_users_token_acts_for_the_email_it_names(sso: SsoServer, provider: OidcProvider) -> None:
    title = f"from single sign-on {uuid.uuid4().hex[:8]}"
    with McpConnection(sso.url, access_token(provider)) as connection:
        alice = TodoClient(connection)
        added = alice.add_task(title, priority="high")
        tools = {tool.name for tool in alice.list_tools()}
    # The same user the page names with its service token: one person's tasks, whichever way they come in.
    assert titles(sso.url, ALICE.email, title) == [title]
    assert titles(sso.url, BOB.email, title) == []
    assert added.priority == "high"
    assert tools >= TOKEN_TOOLS  # a signed-in person manages their personal tokens; a personal token cannot


def test_each_user_sees_only_their_own_tasks(sso: SsoServer, provider: OidcProvider) -> None:
    title = f"bob's own {uuid.uuid4().hex[:8]}"
    with McpConnection(sso.url, access_token(provider, BOB)) as connection:
        TodoClient(connection).add_task(title)
    with McpConnection(sso.url, access_token(provider, ALICE)) as connection:
        assert [t.title for t in TodoClient(connection).list_tasks(search=title).tasks] == []
    assert titles(sso.url, BOB.email, title) == [title]


def test_the_typescript_sdk_signs_in_with_the_providers_token(
    node_tools: NodeTools, sso: SsoServer, provider: OidcProvider
) -> None:
    title = f"TypeScript with SSO {uuid.uuid4().hex[:8]}"
    completed = run(
        [node_tools.node20, "client.mjs", sso.url, access_token(provider), title], cwd=node_tools.ts_folder, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["added"]["isError"] is False, report["added"]["text"]
    assert report["added"]["structured"]["title"] == title
    assert titles(sso.url, ALICE.email, title) == [title]
    assert report["wrongToken"]["code"] == 401


def test_personal_tokens_keep_working_beside_single_sign_on(sso: SsoServer) -> None:
    user = f"pat-{uuid.uuid4().hex[:8]}@example.com"
    personal = service(sso.url, user).create_access_token("notebook").token
    with McpConnection(sso.url, personal) as connection:
        TodoClient(connection).add_task("from a notebook")
    assert titles(sso.url, user, "from a notebook") == ["from a notebook"]


def test_an_access_token_may_not_name_another_user(sso: SsoServer, provider: OidcProvider) -> None:
    response = post(sso.url, access_token(provider), **{"X-Todo-User": BOB.email})
    assert response.status_code == 403
    assert "remove the X-Todo-User header" in response.json()["error_description"]


# --- what is refused --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", FORGED)
def test_a_bad_token_gets_401_and_changes_nothing(sso: SsoServer, provider: OidcProvider, kind: str) -> None:
    title = f"forged {kind} {uuid.uuid4().hex[:8]}"
    add = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "add_task", "arguments": {"title": title}},
    }
    response = post(sso.url, forged(provider, kind), add)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_token"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token"')
    assert f'resource_metadata="{sso.metadata_url}"' in challenge
    assert titles(sso.url, ALICE.email, title) == []


def test_the_python_client_reports_a_refused_access_token(sso: SsoServer, provider: OidcProvider) -> None:
    with McpConnection(sso.url, forged(provider, "expired")) as connection, pytest.raises(TokenRefused) as refused:
        TodoClient(connection).list_tasks()
    assert refused.value.status == 401
    assert "sign in again" in str(refused.value)


# --- discovery --------------------------------------------------------------------------------------------------


def test_clients_discover_the_provider_from_the_metadata_a_401_names(sso: SsoServer, provider: OidcProvider) -> None:
    challenge = post(sso.url, "no-such-token").headers["www-authenticate"]
    [metadata_url] = [part.split("=", 1)[1].strip('"') for part in challenge.split(", ") if "resource_metadata" in part]
    metadata = httpx2.get(metadata_url, timeout=10).json()
    assert metadata == {
        "resource": sso.url,
        "authorization_servers": [provider.issuer],
        "bearer_methods_supported": ["header"],
        "resource_name": "Todo tasks and conversations",
    }
    bare = httpx2.get(f"http://127.0.0.1:{sso.port}/.well-known/oauth-protected-resource", timeout=10).json()
    assert bare == metadata
    # ... and the issuer named there is an OpenID provider that publishes its keys.
    assert httpx2.get(provider.discovery_url, timeout=10).json()["issuer"] == provider.issuer


def test_without_single_sign_on_there_is_no_metadata_and_no_pointer_to_it(mcp_url: str) -> None:
    response = post(mcp_url, "no-such-token")
    assert response.status_code == 401
    assert "resource_metadata" not in response.headers["www-authenticate"]
    assert (
        httpx2.get(mcp_url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp"), timeout=10).status_code == 404
    )


def test_the_public_url_is_the_resource_named(database_url: str, provider: OidcProvider) -> None:
    public = "https://todo.example.com/mcp"
    settings = make_settings(
        database_url, mcp_oidc_issuer=provider.issuer, mcp_oidc_audience=public, mcp_public_url=public
    )
    thread = ServerThread(build_app(settings)).start()
    try:
        response = post(f"{thread.base_url}/mcp", "no-such-token")
        assert (
            'resource_metadata="https://todo.example.com/.well-known/oauth-protected-resource/mcp"'
            in (response.headers["www-authenticate"])
        )
        metadata = httpx2.get(f"{thread.base_url}/.well-known/oauth-protected-resource/mcp", timeout=10).json()
        assert metadata["resource"] == public
    finally:
        thread.stop()


def test_an_issuer_without_an_audience_is_refused_at_start(database_url: str) -> None:
    with pytest.raises(ValueError, match="MCP_OIDC_AUDIENCE"):
        make_settings(database_url, mcp_oidc_issuer="http://127.0.0.1:1")


# --- the provider's keys ----------------------------------------------------------------------------------------


def test_a_key_rotation_is_followed_without_a_restart(database_url: str, sso_port: int) -> None:
    """A provider of its own (the module's keeps its keys): tokens signed with the new key work at once; a token
    signed with a key the provider no longer publishes stops working once the server has seen the new keys."""
    audience = f"http://127.0.0.1:{sso_port}/mcp"
    with OidcProvider(audience=audience, clients=[CLIENT]) as rotating:
        settings = make_settings(
            database_url, mcp_oidc_issuer=rotating.issuer, mcp_oidc_audience=audience, mcp_oidc_jwks_cooldown_seconds=0
        )
        thread = ServerThread(build_app(settings)).start()
        url = f"{thread.base_url}/mcp"
        try:
            before = access_token(rotating)
            assert post(url, before).status_code == 200
            old_kid = rotating.keys[0].kid
            rotating.restart(keys=[SigningKey.generate()])
            after = access_token(rotating)
            assert json.loads(base64.urlsafe_b64decode(after.split(".")[0] + "==")).get("kid") != old_kid
            assert post(url, after).status_code == 200, "the new key was not fetched"
            assert post(url, before).status_code == 401, "a key the provider dropped still counts"
        finally:
            thread.stop()


class CountingProvider:
    """An HTTP client for the verifier that counts its fetches of the provider's keys."""

    def __init__(self, provider: OidcProvider):
        self.fetches = 0
        self.jwks_uri = provider.discovery()["jwks_uri"]

        async def count(request: httpx2.Request) -> None:
            if str(request.url) == self.jwks_uri:
                self.fetches += 1

        self.http = httpx2.AsyncClient(timeout=5, event_hooks={"request": [count]})


def test_unknown_key_ids_fetch_the_keys_once_per_cooldown(provider: OidcProvider) -> None:
    now = [1000.0]
    counting = CountingProvider(provider)
    verifier = JwtVerifier(provider.issuer, provider.audience, cooldown=10, http=counting.http, clock=lambda: now[0])
    good, unknown = access_token(provider), forged(provider, "unknown key id")

    async def scenario() -> None:
        assert (await verifier.verify(good)).user == ALICE.email
        assert counting.fetches == 1
        for _ in range(5):  # a flood of unknown key ids within the cooldown: no fetch at all
            with pytest.raises(TokenRejected, match="does not publish"):
                await verifier.verify(unknown)
        assert counting.fetches == 1
        now[0] += 11
        with pytest.raises(TokenRejected):
            await verifier.verify(unknown)
        assert counting.fetches == 2
        assert (await verifier.verify(good)).user == ALICE.email  # known keys need no fetch
        assert counting.fetches == 2
        await verifier.aclose()

    anyio.run(scenario)


def test_requests_waiting_on_new_keys_share_one_fetch(provider: OidcProvider) -> None:
    counting = CountingProvider(provider)
    verifier = JwtVerifier(provider.issuer, provider.audience, cooldown=0, http=counting.http)
    good = access_token(provider)

    async def scenario() -> None:
        users: list[str] = []

        async def verify() -> None:
            users.append((await verifier.verify(good)).user)

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(verify)
        assert users == [ALICE.email] * 20
        assert counting.fetches == 1
        await verifier.aclose()

    anyio.run(scenario)


def test_a_provider_that_cannot_be_reached_is_a_503_not_a_401(database_url: str) -> None:
    """No keys yet and the provider down: the server cannot tell a good token from a bad one, so it says "try
    again" (and the page keeps what the user typed); once the provider is back, the same token works."""
    port = free_port()
    audience = f"http://127.0.0.1:{port}/mcp"
    with OidcProvider(audience=audience, clients=[CLIENT]) as down:
        token = access_token(down)
        down.stop()
        settings = make_settings(
            database_url, mcp_oidc_issuer=down.issuer, mcp_oidc_audience=audience, mcp_oidc_jwks_cooldown_seconds=0
        )
        thread = ServerThread(build_app(settings), port=port).start()
        try:
            response = post(f"{thread.base_url}/mcp", token)
            assert response.status_code == 503, response.text
            assert response.json()["error"] == "temporarily_unavailable"
            down.start()
            assert post(f"{thread.base_url}/mcp", token).status_code == 200
        finally:
            thread.stop()


def test_the_verifier_alone_refuses_a_provider_it_cannot_reach() -> None:
    async def scenario() -> None:
        verifier = JwtVerifier(f"http://127.0.0.1:{free_port()}", "aud", cooldown=0)
        token = SigningKey.generate().sign({"iss": "x", "aud": "aud", "exp": int(time.time()) + 60})
        with pytest.raises(ProviderUnreachable):
            await verifier.verify(token)
        await verifier.aclose()

    anyio.run(scenario)
