"""A real OpenID Connect provider on loopback for the tests: panva's `oidc-provider` (OpenID Certified, Node)
from devtools/oidc_provider, started as a process of its own, plus a programmatic sign-in.

    with OidcProvider(audience="http://127.0.0.1:8000/mcp", clients=[client]) as provider:
        tokens = provider.sign_in(ALICE, client)  # the real authorization-code flow with PKCE, over HTTP
        tokens["access_token"]  # an RS256 JWT for the audience: iss, sub, aud, exp, iat, client_id, scope, email

The provider issues JWT access tokens for `audience` (the MCP server's URL) even when the client names no
resource, signed with the first of `keys` (`SigningKey`: tests can forge tokens with it, or rotate keys with
`restart(new_keys)`). Its sign-in page is a plain form (username, password); consent is implied; it accepts
prompt=select_account (Streamlit's default) and shows the form for it as for prompt=login; RP-initiated logout
needs no confirmation click. Plain http on 127.0.0.1; state lives in the process's memory only, so a restart
forgets sessions and refresh tokens (signed tokens stay valid while their key is published).

Needs node and the npm packages of devtools/oidc_provider: `bash tests/setup_system.sh` installs both.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from devtools.servers import ROOT, free_port, wait_until_ready

PROVIDER_DIR = ROOT / "devtools" / "oidc_provider"
SETUP_HINT = "run `bash tests/setup_system.sh` (it installs node and the provider's npm packages)"

ClientAuth = Literal["client_secret_basic", "client_secret_post"]


@dataclass(frozen=True)
class OidcUser:
    username: str
    password: str
    email: str
    name: str


ALICE = OidcUser("alice", "alice-test-password", "alice@example.com", "Alice Example")
BOB = OidcUser("bob", "bob-test-password", "bob@example.com", "Bob Example")


@dataclass(frozen=True)
class OidcClient:
    """A confidential web client (authorization code, client_secret_basic or client_secret_post)."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...] = ()


class SigningKey:
    """An RSA key pair (2048 bits) as JWKs, named by `kid`: the provider signs with it, tests may too."""

    def __init__(self, private_key: rsa.RSAPrivateKey, kid: str):
        self.private_key = private_key
        self.kid = kid

    @classmethod
    def generate(cls, kid: str | None = None) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(key, kid or f"key-{secrets.token_hex(6)}")

    @property
    def private_jwk(self) -> dict[str, Any]:
        return self._jwk(self.private_key)

    @property
    def public_jwk(self) -> dict[str, Any]:
        return self._jwk(self.private_key.public_key())

    def _jwk(self, key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> dict[str, Any]:
        # Without PyJWT's key_ops: next to `use` (RFC 7517 4.3), it stops oidc-provider from verifying with
        # its own key (an id_token_hint at logout).
        jwk = {name: value for name, value in RSAAlgorithm.to_jwk(key, as_dict=True).items() if name != "key_ops"}
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def sign(
        self, claims: Mapping[str, Any], *, algorithm: str = "RS256", headers: dict[str, Any] | None = None
    ) -> str:
        """A JWT over `claims` with this key; the header names this key's kid unless `headers` says otherwise."""
        return jwt.encode(
            dict(claims), self.private_key, algorithm=algorithm, headers={"kid": self.kid, **(headers or {})}
        )

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"


class SignInError(RuntimeError):
    """A sign-in (or sign-out) that did not end as it should: wrong credentials (the form came back), an error
    from the provider. `url`, `status` and `page` tell where it stopped."""

    def __init__(self, message: str, *, url: str = "", status: int | None = None, page: str = ""):
        super().__init__(message)
        self.url = url
        self.status = status
        self.page = page


@dataclass(frozen=True)
class AuthorizationRequest:
    """An authorization URL with the secrets that go with it (PKCE S256 verifier, state, nonce)."""

    url: str
    redirect_uri: str
    state: str
    nonce: str
    code_verifier: str


def _pkce_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _strip_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _signing_keys(keys: Sequence[SigningKey]) -> tuple[SigningKey, ...]:
    if not keys:
        raise ValueError("the provider needs at least one signing key")
    if len({key.kid for key in keys}) != len(keys):
        raise ValueError("the signing keys need distinct kids")
    return tuple(keys)


def _location(redirect: httpx2.Response) -> str:
    return str(redirect.url.join(redirect.headers["location"]))


@dataclass
class _Form:
    action: str
    fields: dict[str, str]
    has_password: bool


class _Page(HTMLParser):
    """The forms of a provider page (action, named inputs) and whether a script submits one by itself."""

    def __init__(self, text: str):
        super().__init__()
        self.forms: list[_Form] = []
        self.self_submitting = False
        self._in_script = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(_Form(named.get("action", ""), {}, has_password=False))
        elif tag == "input" and self.forms:
            if named.get("type") == "password":
                self.forms[-1].has_password = True
            if "name" in named:
                self.forms[-1].fields[named["name"]] = named.get("value", "")
        elif tag == "script":
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and ".submit()" in data:
            self.self_submitting = True


class OidcProvider:
    """`node devtools/oidc_provider/provider.mjs` on 127.0.0.1:`port`, with these clients, users and keys.

    `start()` waits for discovery to answer; `stop()` sends SIGTERM (SIGKILL after 8 s); `close()` (and the
    context manager) also removes its private temp folder (configuration, mode 0600, and log). The provider
    exits by itself when this process dies: it watches its stdin, a pipe from here.
    """

    def __init__(
        self,
        *,
        audience: str,
        clients: Sequence[OidcClient],
        users: Sequence[OidcUser] = (ALICE, BOB),
        keys: Sequence[SigningKey] | None = None,
        port: int | None = None,
        id_token_ttl: int = 3600,
        access_token_ttl: int = 3600,
    ):
        self.audience = audience
        self.clients = tuple(clients)
        self.users = tuple(users)
        self._keys = _signing_keys(keys) if keys is not None else (SigningKey.generate(),)
        self.port = port or free_port()
        self.id_token_ttl = id_token_ttl
        self.access_token_ttl = access_token_ttl
        self.process: subprocess.Popen[bytes] | None = None
        self._folder = Path(tempfile.mkdtemp(prefix="oidc-provider-"))  # mode 0700
        self._log: IO[bytes] | None = None
        self._discovery: dict[str, Any] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        """The keys it publishes now; it signs with the first."""
        return self._keys

    @property
    def config_path(self) -> Path:
        return self._folder / "config.json"

    def discovery(self) -> dict[str, Any]:
        """Its OpenID configuration (fetched once per start)."""
        if self._discovery is None:
            with self._http() as http:
                response = http.get(self.discovery_url)
                response.raise_for_status()
                self._discovery = response.json()
        return self._discovery

    # ---- the process ----------------------------------------------------------------------------------------

    def start(self, timeout: float = 30) -> OidcProvider:
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("the OIDC provider is already running")
        node = self._node()
        self._write_config()
        if self._log is None:
            self._log = (self._folder / "provider.log").open("ab")
        self.process = subprocess.Popen(
            [node, "provider.mjs", str(self.config_path)],
            cwd=PROVIDER_DIR,
            stdin=subprocess.PIPE,  # its end closes when this process dies, and the provider exits
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._discovery = None
        try:
            wait_until_ready(self.discovery_url, self.process, "The OIDC provider", timeout)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{exc}:\n{self.log()[-4000:]}") from None
        return self

    def stop(self) -> int | None:
        """SIGTERM and wait (SIGKILL after 8 s); the exit status, None if it was not running."""
        process, self.process = self.process, None
        if process is None:
            return None
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()
        if process.poll() is not None:
            return process.returncode
        process.terminate()
        try:
            return process.wait(timeout=8)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait(timeout=5)

    def restart(self, keys: Sequence[SigningKey] | None = None, timeout: float = 30) -> OidcProvider:
        """Stop and start again on the same port, with `keys` if given (key rotation), else the same ones.
        Sessions, grants and refresh tokens are forgotten (they live in the process's memory)."""
        new_keys = _signing_keys(keys) if keys is not None else self._keys
        self.stop()
        self._keys = new_keys
        return self.start(timeout)

    def log(self) -> str:
        """Everything it printed since the first start: one line per request, warnings, errors."""
        path = self._folder / "provider.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        self.stop()
        if self._log is not None:
            self._log.close()
            self._log = None
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> OidcProvider:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @staticmethod
    def _node() -> str:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError(f"node is needed for the OIDC provider (devtools/oidc_provider): {SETUP_HINT}")
        if not (PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
            raise RuntimeError(f"{PROVIDER_DIR / 'node_modules'} is missing: {SETUP_HINT}")
        return node

    def _write_config(self) -> None:
        config = {
            "port": self.port,
            "issuer": self.issuer,
            "audience": self.audience,
            "jwks": {"keys": [key.private_jwk for key in self._keys]},
            "clients": [
                {
                    "client_id": client.client_id,
                    "client_secret": client.client_secret,
                    "redirect_uris": list(client.redirect_uris),
                    "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
                }
                for client in self.clients
            ],
            "users": [
                {"username": user.username, "password": user.password, "email": user.email, "name": user.name}
                for user in self.users
            ],
            "id_token_ttl": self.id_token_ttl,
            "access_token_ttl": self.access_token_ttl,
            "exit_when_stdin_closes": True,
        }
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump(config, file)

    # ---- signing in -----------------------------------------------------------------------------------------

    def authorization_request(
        self,
        client: OidcClient,
        *,
        redirect_uri: str | None = None,
        scope: str = "openid email profile",
        prompt: str | None = "login",
        resource: str | None = None,
    ) -> AuthorizationRequest:
        """The authorization URL a relying party would send a browser to (response_type=code, PKCE S256)."""
        redirect_uri = redirect_uri or client.redirect_uris[0]
        state, nonce, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(16), secrets.token_urlsafe(48)
        params = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": _pkce_challenge(verifier),
            "code_challenge_method": "S256",
        }
        if prompt is not None:
            params["prompt"] = prompt
        if resource is not None:
            params["resource"] = resource
        url = f"{self.discovery()['authorization_endpoint']}?{urlencode(params)}"
        return AuthorizationRequest(url, redirect_uri, state, nonce, verifier)

    def sign_in(
        self,
        user: OidcUser,
        client: OidcClient,
        *,
        redirect_uri: str | None = None,
        scope: str = "openid email profile",
        prompt: str | None = "login",
        resource: str | None = None,
        client_auth: ClientAuth = "client_secret_basic",
        http: httpx2.Client | None = None,
    ) -> dict[str, Any]:
        """Sign `user` in as a browser and `client` would: the authorization URL, the sign-in form, the
        redirects up to `redirect_uri` (not fetched), the state check, then the code exchanged at the token
        endpoint with the client's secret. Returns the token endpoint's answer (access_token, id_token,
        expires_in, token_type, scope). Raises SignInError when the form comes back (wrong username or
        password) or the provider answers with an error.

        `http` carries cookies between calls as a browser would (the provider's session: with prompt=None a
        second sign-in of the same user needs no form); by default each call is a fresh browser.
        """
        request = self.authorization_request(
            client, redirect_uri=redirect_uri, scope=scope, prompt=prompt, resource=resource
        )
        with contextlib.ExitStack() as stack:
            if http is None:
                http = stack.enter_context(self._http())
            response = self._browse(http, http.get(request.url), stop_at=request.redirect_uri, user=user)
            if not response.is_redirect:
                raise SignInError(
                    f"the provider answered {response.status_code} at {_strip_query(str(response.url))}",
                    url=str(response.url),
                    status=response.status_code,
                    page=response.text,
                )
            callback = _location(response)
            query = parse_qs(urlsplit(callback).query)
            if "error" in query:
                description = query.get("error_description", [""])[0]
                raise SignInError(f"the provider answered {query['error'][0]}: {description}", url=callback)
            if query.get("state") != [request.state]:
                raise SignInError("the state in the redirect is not the one sent", url=callback)
            if query.get("iss", [self.issuer]) != [self.issuer]:
                raise SignInError(f"the redirect names another issuer: {query['iss'][0]}", url=callback)
            form = {
                "grant_type": "authorization_code",
                "code": query["code"][0],
                "redirect_uri": request.redirect_uri,
                "code_verifier": request.code_verifier,
            }
            auth: tuple[str, str] | None = (client.client_id, client.client_secret)
            if client_auth == "client_secret_post":
                form |= {"client_id": client.client_id, "client_secret": client.client_secret}
                auth = None
            response = http.post(self.discovery()["token_endpoint"], data=form, auth=auth)
        if response.status_code != 200:
            raise SignInError(
                f"the token endpoint answered {response.status_code}: {response.text}",
                url=str(response.url),
                status=response.status_code,
            )
        tokens: dict[str, Any] = response.json()
        if "id_token" in tokens:
            nonce = jwt.decode(tokens["id_token"], options={"verify_signature": False}).get("nonce")
            if nonce != request.nonce:
                raise SignInError("the ID token's nonce is not the one sent", url=str(response.url))
        return tokens

    def sign_out(
        self,
        id_token: str,
        *,
        post_logout_redirect_uri: str | None = None,
        state: str | None = None,
        http: httpx2.Client | None = None,
    ) -> str:
        """RP-initiated logout as a browser would do it (the provider's page confirms itself): ends the session
        `http` carries. Returns where the provider sends the browser at the end: `post_logout_redirect_uri`
        (with `state`), or the provider's "Signed out" page without one."""
        params = {"id_token_hint": id_token}
        if post_logout_redirect_uri is not None:
            params["post_logout_redirect_uri"] = post_logout_redirect_uri
        if state is not None:
            params["state"] = state
        with contextlib.ExitStack() as stack:
            if http is None:
                http = stack.enter_context(self._http())
            start = http.get(self.discovery()["end_session_endpoint"], params=params)
            response = self._browse(http, start, stop_at=post_logout_redirect_uri or "", user=None)
        if response.is_redirect:
            return _location(response)
        if response.status_code == 200 and post_logout_redirect_uri is None:
            return str(response.url)
        raise SignInError(
            f"signing out ended with {response.status_code} at {_strip_query(str(response.url))}",
            url=str(response.url),
            status=response.status_code,
            page=response.text,
        )

    @staticmethod
    def _browse(
        http: httpx2.Client, response: httpx2.Response, *, stop_at: str, user: OidcUser | None
    ) -> httpx2.Response:
        """Go on as a browser would from `response`: follow redirects, submit the forms that submit themselves
        (oidc-provider's form_post pages: ending another user's session, confirming a logout), fill in the
        sign-in form once with `user`. Returns the redirect to `stop_at` (not followed) or the first other page.
        Raises SignInError when the sign-in form comes back."""
        submitted = False
        for _ in range(30):
            if response.is_redirect:
                location = _location(response)
                if stop_at and _strip_query(location) == _strip_query(stop_at):
                    return response
                response = http.get(location)
                continue
            if response.status_code != 200:
                return response
            page = _Page(response.text)
            login = next((form for form in page.forms if form.has_password), None)
            if login is not None and user is not None:
                if submitted:
                    wrong = "Wrong username or password."
                    why = wrong if wrong in response.text else "the sign-in form came back"
                    raise SignInError(
                        f"signing {user.username} in failed: {why}",
                        url=str(response.url),
                        status=response.status_code,
                        page=response.text,
                    )
                fields = {**login.fields, "username": user.username, "password": user.password}
                response = http.post(response.url.join(login.action), data=fields)
                submitted = True
            elif login is None and page.self_submitting and page.forms:
                form = page.forms[0]
                response = http.post(response.url.join(form.action), data=form.fields)
            else:
                return response
        raise SignInError("too many redirects and forms", url=str(response.url))

    @staticmethod
    def _http() -> httpx2.Client:
        return httpx2.Client(timeout=10, trust_env=False, follow_redirects=False)
