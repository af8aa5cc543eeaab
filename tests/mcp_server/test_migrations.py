"""Migrations: up from empty, and two servers migrating one database at the same moment."""

import threading
import uuid

import psycopg
from sqlalchemy import create_engine, inspect

from mcp_server.embedded import LocalPostgres
from mcp_server.migrate import head_revision, upgrade
from mcp_server.settings import sqlalchemy_url


def fresh_database(postgres: LocalPostgres) -> str:
    name = f"migrate_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return sqlalchemy_url(postgres.url.rsplit("/", 1)[0] + "/" + name)


def test_migrations_build_the_schema_from_empty(postgres: LocalPostgres) -> None:
    engine = create_engine(fresh_database(postgres))
    upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert tables == {"alembic_version", "tasks", "user_counters", "conversations", "messages"}
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("messages")}
    assert "ix_messages_conversation_id" in indexes
    upgrade(engine)  # a second run is a no-op
    engine.dispose()


def test_concurrent_migrations_apply_once(postgres: LocalPostgres) -> None:
    url = fresh_database(postgres)
    errors: list[BaseException] = []

    def migrate() -> None:
        engine = create_engine(url)
        try:
            upgrade(engine)
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head_revision(),)]
