"""When a sign-in stops counting: a token's `exp`, read by the page (the MCP server checks the signature)."""

import base64
import json

from app.identity import expired, unverified_claims


def jwt_with(claims: dict[str, object]) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


def test_a_token_counts_until_its_exp() -> None:
    assert not expired(1_000, now=999.5)
    assert expired(1_000, now=1_000)
    assert expired(1_000.0, now=2_000)


def test_a_token_without_an_exp_does_not_expire_here() -> None:
    assert not expired(None, now=10**12)
    assert not expired("1000", now=10**12)


def test_the_claims_of_a_jwt_are_read_without_padding() -> None:
    assert unverified_claims(jwt_with({"exp": 1234, "email": "alice@example.com"})) == {
        "exp": 1234,
        "email": "alice@example.com",
    }


def test_an_opaque_or_broken_token_has_no_claims() -> None:
    assert unverified_claims("opaque-token") == {}
    assert unverified_claims("a.!!!.c") == {}
    assert unverified_claims(jwt_with({"exp": 1}).replace(".", ".W10", 1)) == {}  # a JSON list, not an object
