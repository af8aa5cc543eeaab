"""`python -m app [streamlit options]`: the page, as the image, `make run` and the tests start it.

It runs `streamlit run app/main.py`. In AUTH_MODE=oidc it first writes Streamlit's `[auth]` secrets from the OIDC_*
settings into a private file (mode 0600, in a new temporary directory: the chart mounts one in memory) and points
Streamlit at it, so the client secret and the cookie secret come from the environment (a Kubernetes Secret), never
from a file in the image. Missing settings stop it before Streamlit starts, each named with what to set.
"""

import json
import os
import sys
import tempfile
from pathlib import Path

from app.settings import OIDC_PROVIDER, UISettings

MAIN = Path(__file__).resolve().parent / "main.py"


def toml_value(value: str | list[str] | dict[str, str]) -> str:
    """A TOML string, array or inline table (TOML's basic strings take JSON's escapes)."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(key)} = {json.dumps(item)}" for key, item in value.items()) + " }"
    return json.dumps(value, ensure_ascii=False)


def auth_secrets(settings: UISettings) -> str:
    """Streamlit's [auth] section for st.login(OIDC_PROVIDER): the provider, the redirect URL and the cookie secret."""
    assert settings.oidc_client_secret is not None and settings.oidc_cookie_secret is not None
    top: dict[str, str | list[str] | dict[str, str]] = {
        "redirect_uri": settings.oidc_redirect_url or "",
        "cookie_secret": settings.oidc_cookie_secret.get_secret_value(),
    }
    if settings.oidc_forward_access_token:
        top["expose_tokens"] = ["access"]  # st.user.tokens["access"]: what the page sends the MCP server
    client_kwargs = {"scope": settings.oidc_scopes}
    if settings.oidc_prompt:
        client_kwargs["prompt"] = settings.oidc_prompt
    provider: dict[str, str | list[str] | dict[str, str]] = {
        "client_id": settings.oidc_client_id or "",
        "client_secret": settings.oidc_client_secret.get_secret_value(),
        "server_metadata_url": settings.oidc_discovery_url or "",
        "client_kwargs": client_kwargs,
    }
    if settings.oidc_authorize_params:
        provider["authorize_params"] = settings.oidc_authorize_params
    lines = ["[auth]", *(f"{key} = {toml_value(value)}" for key, value in top.items()), "", f"[auth.{OIDC_PROVIDER}]"]
    lines += [f"{key} = {toml_value(value)}" for key, value in provider.items()]
    return "\n".join(lines) + "\n"


def write_private(text: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="todo-ui-"))  # 0700, new: no one else's file can be there
    path = folder / "secrets.toml"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
    return path


def command(settings: UISettings, options: list[str]) -> list[str]:
    """The streamlit command line; in oidc mode, after writing the [auth] secrets it reads."""
    run = [sys.executable, "-m", "streamlit", "run", str(MAIN), *options]
    if settings.auth_mode == "oidc":
        run += ["--secrets.files", str(write_private(auth_secrets(settings)))]
    return run


def main() -> None:
    settings = UISettings()
    if settings.auth_mode == "oidc" and (problems := settings.oidc_problems()):
        print("AUTH_MODE=oidc needs these settings:", *(f"  - {line}" for line in problems), sep="\n", file=sys.stderr)
        raise SystemExit(2)
    run = command(settings, sys.argv[1:])
    os.execv(run[0], run)  # Streamlit takes this process over: signals and the exit status are its own


if __name__ == "__main__":
    main()
