"""Processes the way `make run`, the tests and the benchmarks start them: `python -m mcp_server` on a port of its
own, ready when its /readyz says so, and a generic wait for any process's health URL."""

import contextlib
import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:  # refused, reset, timed out, or an HTTP error status (urllib's HTTPError is an OSError)
        return False


def wait_until_ready(url: str, process: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    """Return once `url` answers 200. Raises RuntimeError as soon as the process exits, or at the deadline."""
    deadline = time.monotonic() + timeout
    while not answers_200(url):
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode} before it was ready")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not become ready at {url} within {timeout:.0f} s")
        time.sleep(0.05)


def sha256_hex(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class McpProcess:
    """`python -m mcp_server` (or `command`) as a process of its own, on a fixed port: start it, wait for /readyz,
    stop it; kill -9, freeze and thaw it for fault tests; start it again on the same port.

    The server knows the page's service token by its SHA-256 only, as in production: pass `service_token`, or
    one is made (`.service_token`). `env` adds to or overrides the server's environment (MCP_WORKERS=2, ...).
    `root` is the checkout it runs from (bench.server compares two).
    Its output goes to a temporary file (`log()`), or to this process's own with `own_output=True`.
    """

    def __init__(
        self,
        database_url: str,
        *,
        port: int | None = None,
        service_token: str | None = None,
        command: list[str] | None = None,
        own_output: bool = False,
        root: Path = ROOT,
        **env: str,
    ):
        self.database_url = database_url
        self.root = root
        self.port = port or free_port()
        self.service_token = service_token or secrets.token_urlsafe(32)
        self.command = command or [sys.executable, "-m", "mcp_server"]
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        if not own_output:
            self._log = tempfile.NamedTemporaryFile(prefix="mcp-server-", suffix=".log", delete=False)  # noqa: SIM115

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/mcp"

    def start(self, timeout: float = 40) -> "McpProcess":
        return self.launch().wait_ready(timeout)

    def launch(self) -> "McpProcess":
        """Start the process without waiting (several replicas start in parallel)."""
        env = {
            **{name: value for name, value in os.environ.items() if name != "MCP_AUTH_TOKEN"},  # the page's secret
            "DATABASE_URL": self.database_url,
            "MCP_SERVICE_TOKEN_SHA256": sha256_hex(self.service_token),
            "MCP_PORT": str(self.port),
            "MCP_HOST": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **self.env,
        }
        output = {"stdout": self._log, "stderr": subprocess.STDOUT} if self._log is not None else {}
        self.process = subprocess.Popen(self.command, cwd=self.root, env=env, **output)  # type: ignore[call-overload]
        return self

    def wait_ready(self, timeout: float = 40) -> "McpProcess":
        assert self.process is not None, "launch() first"
        try:
            wait_until_ready(f"{self.base_url}/readyz", self.process, "The MCP server", timeout)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}:\n{self.log()}") from None
        return self

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, open connections are reset."""
        assert self.process is not None and self.process.poll() is None, "the server is not running"
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections (the kernel does), nothing answers."""
        assert self.process is not None and self.process.poll() is None, "the server is not running"
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> int | None:
        """SIGTERM and wait (SIGKILL after 8 s); the exit status, None if it was not running."""
        if self.process is None or self.process.poll() is not None:
            return None
        os.kill(self.process.pid, signal.SIGCONT)  # a frozen process cannot act on SIGTERM
        self.process.terminate()
        try:
            return self.process.wait(timeout=8)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=5)

    def log(self) -> str:
        if self._log is None:
            return "(its output went to this process's own)"
        return Path(self._log.name).read_text(errors="replace")[-4000:]

    def close(self) -> None:
        self.stop()
        if self._log is not None:
            self._log.close()
            with contextlib.suppress(FileNotFoundError):
                Path(self._log.name).unlink()

    def __enter__(self) -> "McpProcess":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
