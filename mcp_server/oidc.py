"""Access tokens from the organisation's OpenID provider: JWTs checked against the keys the issuer publishes.

The keys are found through the issuer's discovery document and kept. A token naming a key id that is not among
them makes one fetch of the keys (the provider rotated them), at most once per cooldown however many such tokens
come; the keys are fetched again after KEYS_MAX_AGE, and the old ones kept if the provider cannot be reached.
Only asymmetric signatures are accepted (never `none`, never HS256 "signed" with a public key); `iss`, `aud`,
`exp` and `nbf` are checked with CLOCK_SKEW seconds of leeway.
"""

import base64
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
import jwt

log = logging.getLogger(__name__)

ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
CLOCK_SKEW = 30  # seconds a token's exp and nbf may be off by, for clocks that differ a little
KEYS_MAX_AGE = 3600.0  # seconds before the published keys are fetched again anyway
FETCH_TIMEOUT = 5.0
BASE64URL = re.compile(r"[A-Za-z0-9_-]{2,4096}")
PROVIDER_DOWN = "The identity provider could not be reached to check the token; try again in a moment."


class TokenRejected(Exception):
    """The token is not one of the issuer's, or not valid now, or not for this server (HTTP 401)."""


class ProviderUnreachable(Exception):
    """The issuer's keys could not be fetched, so no token can be checked (HTTP 503)."""


@dataclass(frozen=True)
class VerifiedToken:
    user: str  # the value of the user claim
    client_id: str | None  # the client the token was issued to
    expires_at: float


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header, only to pick the key and the algorithm: jwt.decode checks it all again. Read here rather
    than with jwt.get_unverified_header, which decodes the whole token with a per-character check in Python
    (PyJWT 2.15.1: about half the cost of a verification, paid twice)."""
    segment = token.split(".", 1)[0]
    if not BASE64URL.fullmatch(segment):
        raise TokenRejected("not a JWT")
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except ValueError as exc:
        raise TokenRejected("not a JWT") from exc
    if not isinstance(header, dict):
        raise TokenRejected("not a JWT")
    return header


class JwtVerifier:
    """Checks the provider's access tokens; one per server process (it keeps the issuer's keys)."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        user_claim: str = "email",
        *,
        cooldown: float = 5.0,
        http: httpx2.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.issuer = issuer
        self.audience = audience
        self.user_claim = user_claim
        self._cooldown = cooldown
        self._http = http or httpx2.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=False)
        self._clock = clock
        self._jwks_uri: str | None = None
        self._keys: dict[str | None, jwt.PyJWK] = {}  # kid -> key (None: a key published without an id)
        self._fetched_at: float | None = None
        self._failed = False  # the last fetch failed
        self._refreshing = anyio.Lock()

    async def verify(self, token: str) -> VerifiedToken:
        header = unverified_header(token)
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise TokenRejected(f"algorithm {str(algorithm)[:20]!r} is not accepted")
        key = await self._signing_key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=CLOCK_SKEW,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenRejected(str(exc)) from exc
        user = claims.get(self.user_claim)
        if not isinstance(user, str) or not user:
            raise TokenRejected(f"the token has no {self.user_claim!r} claim")
        client_id = claims.get("client_id") or claims.get("azp")
        return VerifiedToken(user, str(client_id) if client_id else None, float(claims["exp"]))

    async def _signing_key(self, kid: object) -> jwt.PyJWK:
        if kid is not None and not isinstance(kid, str):
            raise TokenRejected("the key id is not a string")
        key = self._find(kid)
        fetched_at = self._fetched_at
        if key is not None and fetched_at is not None and self._clock() - fetched_at < KEYS_MAX_AGE:
            return key
        if key is None and fetched_at is not None and self._clock() - fetched_at < self._cooldown:
            if self._failed:
                raise ProviderUnreachable(PROVIDER_DOWN)
            raise TokenRejected("signed with a key the issuer does not publish")
        try:
            await self._refresh(fetched_at)
        except ProviderUnreachable:
            if key is None:
                raise
            log.warning("could not fetch the identity provider's keys again; keeping the ones it published before")
            return key
        key = self._find(kid)
        if key is None:
            raise TokenRejected("signed with a key the issuer does not publish")
        return key

    def _find(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None and len(self._keys) == 1:  # a token without a key id, from an issuer with one key
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    async def _refresh(self, seen: float | None) -> None:
        """Fetch the keys, once for all the requests that wait on it."""
        async with self._refreshing:
            if self._fetched_at != seen:  # another request fetched them while this one waited
                return
            try:
                if self._jwks_uri is None:
                    self._jwks_uri = await self._discover()
                answer = await self._http.get(self._jwks_uri)
                answer.raise_for_status()
                keys = jwt.PyJWKSet.from_dict(answer.json()).keys
            except (httpx2.HTTPError, ValueError, jwt.PyJWTError) as exc:
                self._fetched_at, self._failed = self._clock(), True  # the cooldown holds for failures too
                log.warning("the identity provider's keys could not be fetched: %s", type(exc).__name__)
                raise ProviderUnreachable(PROVIDER_DOWN) from exc
            self._keys = {key.key_id: key for key in keys if (key.public_key_use or "sig") == "sig"}
            self._fetched_at, self._failed = self._clock(), False
            log.info("fetched %d signing keys of %s", len(self._keys), self.issuer)

    async def _discover(self) -> str:
        answer = await self._http.get(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
        answer.raise_for_status()
        document = answer.json()
        if document.get("issuer") != self.issuer:
            raise ValueError(f"the discovery document names issuer {document.get('issuer')!r}, not {self.issuer!r}")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise ValueError("the discovery document has no jwks_uri")
        return jwks_uri

    async def aclose(self) -> None:
        await self._http.aclose()
