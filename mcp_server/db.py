"""The database engine and sessions; connection failures become StorageUnavailable."""

from collections.abc import Iterator
from contextlib import contextmanager

import anyio.to_thread
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from mcp_server.errors import StorageUnavailable
from mcp_server.settings import Settings


class Database:
    """A fixed pool of `pool_size` connections, opened as needed and kept: no overflow connection is opened for a
    burst and closed on its return (each one a new Postgres backend). The server runs at most `pool_size` blocking
    calls at once (`limit_threads`), each holding at most one connection, so none waits for the pool either."""

    def __init__(self, url: str, *, pool_size: int = 10, connect_timeout: int = 3):
        self.pool_size = pool_size
        self.engine = create_engine(
            url,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=connect_timeout + 2,
            pool_pre_ping=True,
            connect_args={"connect_timeout": connect_timeout, "application_name": "todo-mcp"},
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> "Database":
        return cls(
            settings.sqlalchemy_url,
            pool_size=settings.db_pool_size,
            connect_timeout=settings.db_connect_timeout,
        )

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: committed on success, rolled back on any error."""
        try:
            with self.engine.begin() as connection:
                yield connection
        except (OperationalError, InterfaceError, PoolTimeout) as exc:
            raise StorageUnavailable() from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise StorageUnavailable() from exc
            raise

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None before the first migration)."""
        with self.engine.connect() as conn:
            exists = conn.execute(text("SELECT to_regclass('alembic_version') IS NOT NULL")).scalar_one()
            if not exists:
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()

    def limit_threads(self) -> None:
        """Run at most pool_size of this event loop's worker threads at once: the SDK's sync tools, the token
        lookups and the readiness check all go through anyio's default thread limiter (40 otherwise)."""
        anyio.to_thread.current_default_thread_limiter().total_tokens = self.pool_size

    def dispose(self) -> None:
        self.engine.dispose()
