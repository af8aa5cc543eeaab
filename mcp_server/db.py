"""The database engine and sessions; connection failures become StorageUnavailable."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from mcp_server.errors import StorageUnavailable
from mcp_server.settings import Settings


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10, connect_timeout: int = 3):
        self.engine = create_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=connect_timeout + 2,
            pool_pre_ping=True,
            connect_args={"connect_timeout": connect_timeout, "application_name": "todo-mcp"},
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> "Database":
        return cls(
            settings.sqlalchemy_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
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

    def dispose(self) -> None:
        self.engine.dispose()
