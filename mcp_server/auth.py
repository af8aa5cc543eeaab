"""Who is calling: every /mcp request's credential is resolved once, before any tool runs, to the user it acts for.

Three credentials exist:
- the page's **service token** (the UI tier's MCP_AUTH_TOKEN; this server knows only its SHA-256), which acts for
  the user named in the `X-Todo-User` header, and must name one;
- **personal access tokens** (`todo_pat_...`, made on the page), which act for their owner only and may not name
  anyone;
- where MCP_OIDC_ISSUER is set, **access tokens from the organisation's OpenID provider** (JWTs, mcp_server/oidc.py),
  which act for the user their MCP_OIDC_USER_CLAIM names (the page's user id) and may not name anyone.
Any caller may name its time zone in the `X-Todo-Timezone` header (an IANA name; the page sends the browser's):
date phrases ("friday") and "overdue" count from today there, and from today in UTC without one.
The resolved `Caller` rides on the request as the SDK's authenticated user (`request.user`, and the SDK's
`get_access_token()` context); a tool reads it from its `Context` with `caller(ctx)`. No tool takes a user argument.
"""

import dataclasses
import datetime as dt
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import Context
from mcp.shared.inbound import decode_header_value
from starlette.authentication import AuthCredentials
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from contract.dates import time_zone, today_in
from contract.schemas import user_id
from contract.tools import TIMEZONE_HEADER, USER_HEADER
from mcp_server import oidc, tokens
from mcp_server.db import Database
from mcp_server.errors import StorageUnavailable
from mcp_server.observability import CALLERS
from mcp_server.oidc import JwtVerifier

log = logging.getLogger(__name__)

CACHE_SECONDS = 0.5  # a revoked token stops working on every replica within this (at once on the one that revoked)
CACHE_SIZE = 10_000
WHERE_TOKENS_COME_FROM = "Create a personal access token on the page (sidebar, API access)."


@dataclass(frozen=True)
class Caller:
    """The user a request acts for, and the credential that says so."""

    user_id: str
    credential: Literal["service", "personal", "oidc"]
    token_id: uuid.UUID | None = None  # the personal token's id
    timezone: dt.tzinfo = dt.UTC  # the user's, from the X-Todo-Timezone header
    client_id: str | None = None  # the OpenID client an access token was issued to

    @property
    def signed_in(self) -> bool:
        """The person signed in (through the page, or at the provider), not a personal token: only they make and
        revoke personal tokens, so a leaked token cannot make more."""
        return self.credential != "personal"

    def today(self) -> dt.date:
        """The date where the user is: what "today", "friday" and "overdue" count from."""
        return today_in(self.timezone)


class CallerUser(AuthenticatedUser):
    """The SDK's authenticated user, carrying the resolved caller."""

    def __init__(self, caller: Caller):
        client_id = {
            "service": "todo-page",
            "personal": f"personal-token:{caller.token_id}",
            "oidc": f"oidc:{caller.client_id}",
        }[caller.credential]
        super().__init__(AccessToken(token="redacted", client_id=client_id, scopes=[], subject=caller.user_id))
        self.caller = caller


def caller(ctx: Context[Any, Any]) -> Caller:
    """The caller of the tool call `ctx` belongs to (resolved by CallerMiddleware before the call was read)."""
    request = ctx.request_context.request
    user = request.scope.get("user") if request is not None else None
    if not isinstance(user, CallerUser):  # only a server built without CallerMiddleware gets here
        raise RuntimeError("tool called without an authenticated caller")
    return user.caller


def current_caller() -> Caller | None:
    """The caller of the request being handled, for SDK hooks that get no Context (tools/list)."""
    user = auth_context_var.get()
    return user.caller if isinstance(user, CallerUser) else None


@dataclass(frozen=True)
class Refusal:
    status: int
    error: str  # an RFC 6750 error code
    description: str

    def headers(self, resource_metadata: str | None = None) -> list[tuple[bytes, bytes]]:
        """With `resource_metadata` (the URL of this server's RFC 9728 metadata), a 401 tells an MCP client where
        to learn how to sign in, as the MCP authorization spec asks."""
        headers = [(b"content-type", b"application/json")]
        if self.status == 401:
            challenge = f'Bearer error="{self.error}", error_description="{self.description}"'
            if resource_metadata:
                challenge += f', resource_metadata="{resource_metadata}"'
            headers.append((b"www-authenticate", challenge.encode()))
        return headers

    def body(self) -> bytes:
        return json.dumps({"error": self.error, "error_description": self.description}).encode()


NO_TOKEN = Refusal(
    401, "invalid_token", f"Authentication required: send Authorization: Bearer <token>. {WHERE_TOKENS_COME_FROM}"
)
BAD_TOKEN = Refusal(401, "invalid_token", f"The token is wrong, revoked or expired. {WHERE_TOKENS_COME_FROM}")
BAD_ACCESS_TOKEN = Refusal(
    401, "invalid_token", "The access token is not valid here (expired, or not issued for this server): sign in again."
)
NO_USER = Refusal(
    400, "invalid_request", f"The service token acts for a user: name the signed-in user in the {USER_HEADER} header."
)
NAMES_USER = Refusal(
    403,
    "insufficient_scope",
    f"A personal access token acts only for its owner: remove the {USER_HEADER} header.",
)
ACCESS_TOKEN_NAMES_USER = Refusal(
    403,
    "insufficient_scope",
    f"An access token acts only for the user it was issued to: remove the {USER_HEADER} header.",
)
PROVIDER_DOWN = Refusal(503, "temporarily_unavailable", oidc.PROVIDER_DOWN)
TWO_HEADERS = Refusal(
    400,
    "invalid_request",
    f"Send one Authorization header and at most one {USER_HEADER} and one {TIMEZONE_HEADER} header.",
)
STORAGE_DOWN = Refusal(503, "temporarily_unavailable", "Storage unavailable, try again in a moment.")
FOREIGN_ORIGIN = Refusal(
    403, "invalid_request", "Requests from this Origin are not allowed: add it to MCP_ALLOWED_ORIGINS on the server."
)


class Authenticator:
    """Resolves a request's Authorization and X-Todo-User headers to a Caller, or a Refusal."""

    def __init__(
        self,
        service_token_sha256: str,
        db: Database,
        *,
        oidc: JwtVerifier | None = None,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._service_digest = bytes.fromhex(service_token_sha256)
        self._db = db
        self.oidc = oidc
        self._cache_seconds = cache_seconds
        self._clock = clock
        # token hash -> (when looked up, the caller, when the token expires as a Unix time, or None)
        self._cache: dict[str, tuple[float, Caller, float | None]] = {}

    async def resolve(self, authorization: str | None, named_user: str | None) -> Caller | Refusal:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return NO_TOKEN
        hashed = tokens.token_hash(token)
        if hmac.compare_digest(bytes.fromhex(hashed), self._service_digest):
            return self._for_named_user(named_user)
        if self.oidc is not None and oidc.looks_like_jwt(token):
            return await self._access_token(token, named_user)
        if not tokens.looks_personal(token):
            return BAD_TOKEN
        try:
            personal = await self._personal(hashed)
        except StorageUnavailable:
            return STORAGE_DOWN
        if personal is None:
            return BAD_TOKEN
        if named_user is not None:
            return NAMES_USER
        return personal

    async def _access_token(self, token: str, named_user: str | None) -> Caller | Refusal:
        assert self.oidc is not None
        try:
            verified = await self.oidc.verify(token)
        except oidc.TokenRejected as exc:
            log.info("refused an access token: %s", exc)  # why, never the token
            return BAD_ACCESS_TOKEN
        except oidc.ProviderUnreachable:
            return PROVIDER_DOWN
        if named_user is not None:
            return ACCESS_TOKEN_NAMES_USER
        try:
            return Caller(user_id(verified.user), "oidc", client_id=verified.client_id)
        except ValueError as exc:
            log.info("refused an access token: its %s claim is not a user id (%s)", self.oidc.user_claim, exc)
            return BAD_ACCESS_TOKEN

    def forget(self, hashed: str) -> None:
        """Stop honouring a token in this process at once (it was just revoked here)."""
        self._cache.pop(hashed, None)

    @staticmethod
    def _for_named_user(named_user: str | None) -> Caller | Refusal:
        if named_user is None:
            return NO_USER
        try:
            return Caller(user_id(decode_header_value(named_user) or ""), "service")
        except ValueError as exc:
            return Refusal(400, "invalid_request", f"The {USER_HEADER} header is not a user id: {exc}.")

    async def _personal(self, hashed: str) -> Caller | None:
        now = self._clock()
        cached = self._cache.get(hashed)
        if cached is not None and now - cached[0] < self._cache_seconds:
            _, found, expires = cached
            return found if expires is None or time.time() < expires else None
        async with self._db.connection() as conn:
            row = await tokens.owner(conn, hashed)
        if row is None:
            self._cache.pop(hashed, None)
            return None
        found = Caller(row.user_id, "personal", row.id)
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[hashed] = (now, found, row.expires_at.timestamp() if row.expires_at else None)
        return found


def zone_named(name: str | None) -> dt.tzinfo | Refusal:
    """The time zone an X-Todo-Timezone header names (UTC without one), or its refusal."""
    if name is None:
        return dt.UTC
    try:
        return time_zone(name.strip())
    except ValueError as exc:
        return Refusal(400, "invalid_request", f"The {TIMEZONE_HEADER} header is not a time zone: {exc}.")


def resource_url(scope: Scope, public_url: str | None, path: str = "/mcp") -> str:
    """This server's MCP endpoint as its clients name it: MCP_PUBLIC_URL, else the URL the request came in on."""
    if public_url:
        return public_url
    host = Headers(scope=scope).get("host") or "localhost"
    return f"{scope.get('scheme', 'http')}://{host}{path}"


def resource_metadata_url(resource: str) -> str:
    """Where RFC 9728 puts the metadata of `resource`: /.well-known/oauth-protected-resource before its path."""
    parts = urlsplit(resource)
    return f"{parts.scheme}://{parts.netloc}/.well-known/oauth-protected-resource{parts.path.rstrip('/')}"


def origin_allowed(origin: str, patterns: list[str]) -> bool:
    """Whether an Origin header matches one of `scheme://host`, `scheme://host:port` or `scheme://host:*`."""
    try:
        given = urlsplit(origin)
        given_port = given.port
    except ValueError:
        return False
    if not given.scheme or not given.hostname or given.path or given.query or given.username:
        return False
    for pattern in patterns:
        wanted = urlsplit(pattern.replace(":*", ""))
        if (given.scheme, given.hostname) != (wanted.scheme, wanted.hostname):
            continue
        if pattern.endswith(":*") or given_port == wanted.port:
            return True
    return False


def origin_regex(patterns: list[str]) -> str:
    """The same origins as one regular expression, for the CORS middleware."""
    parts = []
    for pattern in patterns:
        if pattern.endswith(":*"):
            parts.append(re.escape(pattern[:-2]) + r"(:[0-9]{1,5})?")
        else:
            parts.append(re.escape(pattern))
    return "^(" + "|".join(parts) + ")$" if parts else "^$"


class CallerMiddleware:
    """On the MCP endpoint: refuse a foreign Origin (403), then resolve the caller or refuse the credential
    (401 with WWW-Authenticate: Bearer, 400, 403) or the time zone (400), with a JSON body that says what to fix.
    Other paths pass."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        allowed_origins: list[str],
        path: str = "/mcp",
        public_url: str | None = None,
    ):
        self.app = app
        self.authenticator = authenticator
        self.allowed_origins = allowed_origins
        self.path = path
        self.public_url = public_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is not None and not origin_allowed(origin, self.allowed_origins):
            await self._refuse(FOREIGN_ORIGIN, send)
            return
        if any(len(headers.getlist(name)) > 1 for name in ("authorization", USER_HEADER, TIMEZONE_HEADER)):
            await self._refuse(TWO_HEADERS, send)  # which one would count is not for a proxy to guess
            return
        outcome = await self.authenticator.resolve(headers.get("authorization"), headers.get(USER_HEADER))
        if isinstance(outcome, Refusal):
            metadata = None
            if self.authenticator.oidc is not None:
                metadata = resource_metadata_url(resource_url(scope, self.public_url, self.path))
            await self._refuse(outcome, send, metadata)
            return
        zone = zone_named(headers.get(TIMEZONE_HEADER))
        if isinstance(zone, Refusal):
            await self._refuse(zone, send)
            return
        CALLERS.labels(outcome.credential).inc()
        user = CallerUser(dataclasses.replace(outcome, timezone=zone))
        scope["user"], scope["auth"] = user, AuthCredentials([])
        reset = auth_context_var.set(user)
        try:
            await self.app(scope, receive, send)
        finally:
            auth_context_var.reset(reset)

    @staticmethod
    async def _refuse(refusal: Refusal, send: Send, resource_metadata: str | None = None) -> None:
        log.info("refused an MCP request: HTTP %d %s", refusal.status, refusal.error)
        body = refusal.body()
        headers = [*refusal.headers(resource_metadata), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
