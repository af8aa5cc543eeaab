"""`python -m app`: in AUTH_MODE=oidc, Streamlit's [auth] secrets written from the environment into a private file,
and a clear stop when a setting is missing."""

import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from app.__main__ import auth_secrets, command
from app.settings import OIDC_PROVIDER, UISettings

ROOT = Path(__file__).resolve().parents[2]
COOKIE_SECRET = "c" * 64
OIDC = {
    "auth_mode": "oidc",
    "oidc_issuer": "https://id.example.com/realms/staff",
    "oidc_client_id": "todo-chat",
    "oidc_client_secret": 'se"cr\\et',
    "oidc_redirect_url": "https://todo.example.com/oauth2callback",
    "oidc_cookie_secret": COOKIE_SECRET,
}


def test_the_auth_secrets_are_what_st_login_reads() -> None:
    secrets = tomllib.loads(auth_secrets(UISettings(**OIDC)))  # type: ignore[arg-type]
    auth = secrets["auth"]
    assert auth["redirect_uri"] == "https://todo.example.com/oauth2callback"
    assert auth["cookie_secret"] == COOKIE_SECRET
    assert auth["expose_tokens"] == ["access"]  # forwarded to the MCP server by default
    provider = auth[OIDC_PROVIDER]
    assert provider == {
        "client_id": "todo-chat",
        "client_secret": 'se"cr\\et',  # quoted as TOML, not broken by its quote and backslash
        "server_metadata_url": "https://id.example.com/realms/staff/.well-known/openid-configuration",
        "client_kwargs": {"scope": "openid email profile"},
    }


def test_the_optional_settings_reach_the_provider_section() -> None:
    settings = UISettings(
        **OIDC,  # type: ignore[arg-type]
        oidc_metadata_url="https://id.example.com/discovery",
        oidc_prompt="login",
        oidc_scopes="openid email",
        oidc_authorize_params={"audience": "https://todo.example.com/mcp"},
        oidc_forward_access_token=False,
    )
    auth = tomllib.loads(auth_secrets(settings))["auth"]
    assert "expose_tokens" not in auth  # no token kept in a cookie when none is forwarded
    provider = auth[OIDC_PROVIDER]
    assert provider["server_metadata_url"] == "https://id.example.com/discovery"
    assert provider["client_kwargs"] == {"scope": "openid email", "prompt": "login"}
    assert provider["authorize_params"] == {"audience": "https://todo.example.com/mcp"}


def test_the_secrets_file_is_private_and_named_on_the_command_line() -> None:
    run = command(UISettings(**OIDC), ["--server.port", "8501"])  # type: ignore[arg-type]
    assert run[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert run[5:7] == ["--server.port", "8501"]
    assert run[-2] == "--secrets.files"
    path = Path(run[-1])
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert tomllib.loads(path.read_text())["auth"]["cookie_secret"] == COOKIE_SECRET
    finally:
        path.unlink()
        path.parent.rmdir()


def test_other_modes_write_no_secrets() -> None:
    assert "--secrets.files" not in command(UISettings(auth_mode="header"), [])


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("oidc_issuer", "OIDC_ISSUER"),
        ("oidc_client_id", "OIDC_CLIENT_ID"),
        ("oidc_client_secret", "OIDC_CLIENT_SECRET"),
        ("oidc_redirect_url", "OIDC_REDIRECT_URL"),
        ("oidc_cookie_secret", "OIDC_COOKIE_SECRET"),
    ],
)
def test_a_missing_setting_stops_the_page_before_streamlit_starts(missing: str, named: str) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OIDC_", "AUTH_"))}
    env.update({key.upper(): value for key, value in OIDC.items() if key != missing})
    completed = subprocess.run(
        [sys.executable, "-m", "app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.startswith("AUTH_MODE=oidc needs these settings:")
    assert f"  - {named}:" in completed.stderr
    assert completed.stderr.count("  - ") == 1, completed.stderr  # only what is missing
    assert "Streamlit" not in completed.stdout + completed.stderr


def test_a_short_cookie_secret_is_refused() -> None:
    problems = UISettings(**{**OIDC, "oidc_cookie_secret": "short"}).oidc_problems()  # type: ignore[arg-type]
    assert problems == ["OIDC_COOKIE_SECRET: at least 32 random characters (e.g. `openssl rand -hex 32`)"]
