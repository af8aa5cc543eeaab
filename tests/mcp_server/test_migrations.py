"""Migrations: up from empty, the same schema as the models, upgrades keep the rows (and the newest one goes down
again), and two servers migrating one database at the same moment."""

import threading
import uuid

import psycopg
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text

from devtools.postgres import LocalPostgres
from mcp_server.migrate import alembic_config, head_revision, upgrade
from mcp_server.models import Base
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
    assert tables == {"alembic_version", "tasks", "user_counters", "conversations", "messages", "access_tokens"}
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("messages")}
    assert "ix_messages_conversation_id" in indexes
    upgrade(engine)  # a second run is a no-op
    engine.dispose()


def test_the_migrated_schema_is_what_the_models_declare(postgres: LocalPostgres) -> None:
    engine = create_engine(fresh_database(postgres))
    upgrade(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        assert compare_metadata(context, Base.metadata) == []
        # Autogenerate does not compare partial-index predicates: check the ones the code relies on.
        predicates = dict(
            conn.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE '%idempotency_key'")
            ).all()
        )
    assert set(predicates) == {"uq_tasks_user_idempotency_key", "ix_messages_conversation_idempotency_key"}
    assert all(definition.endswith("WHERE (idempotency_key IS NOT NULL)") for definition in predicates.values())
    engine.dispose()


def test_message_idempotency_keys_upgrade_a_database_with_messages(postgres: LocalPostgres) -> None:
    engine = create_engine(fresh_database(postgres))
    upgrade(engine, "0001")
    with engine.begin() as conn:
        cid = conn.execute(text("INSERT INTO conversations (id, user_id) VALUES (gen_random_uuid(), 'u') RETURNING id"))
        conn.execute(
            text("INSERT INTO messages (conversation_id, role, content) VALUES (:cid, 'user', 'kept')"),
            {"cid": cid.scalar_one()},
        )
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT content, idempotency_key FROM messages")).all() == [("kept", None)]
    engine.dispose()


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
        connection.commit()


def schema_revision(engine: Engine) -> str:
    with engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


def test_access_tokens_upgrade_a_database_with_rows_and_downgrade(postgres: LocalPostgres) -> None:
    engine = create_engine(fresh_database(postgres))
    upgrade(engine, "0002")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO user_counters (user_id, last_task_number) VALUES ('u', 1)"))
        conn.execute(text("INSERT INTO tasks (user_id, number, title) VALUES ('u', 1, 'kept task')"))
        cid = conn.execute(
            text("INSERT INTO conversations (id, user_id) VALUES (gen_random_uuid(), 'u') RETURNING id")
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO messages (conversation_id, role, content, idempotency_key) VALUES (:c, 'user', 'kept', 'k')"
            ),
            {"c": cid},
        )
    kept = {
        "tasks": "SELECT user_id, number, title FROM tasks",
        "messages": "SELECT content, idempotency_key FROM messages",
        "user_counters": "SELECT user_id, last_task_number FROM user_counters",
    }

    def rows() -> dict[str, list[tuple[object, ...]]]:
        with engine.connect() as conn:
            return {table: [tuple(row) for row in conn.execute(text(query)).all()] for table, query in kept.items()}

    before = rows()
    assert before["tasks"] == [("u", 1, "kept task")] and before["messages"] == [("kept", "k")]

    upgrade(engine, "0003")
    assert schema_revision(engine) == "0003"
    assert rows() == before
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO access_tokens (id, user_id, name, token_hash) "
                "VALUES (gen_random_uuid(), 'u', 'notebook', repeat('a', 64))"
            )
        )
        token = conn.execute(text("SELECT user_id, name, created_at IS NOT NULL, expires_at FROM access_tokens")).all()
    assert [tuple(row) for row in token] == [("u", "notebook", True, None)]
    indexes = {ix["name"]: ix["unique"] for ix in inspect(engine).get_indexes("access_tokens")}
    assert indexes == {"uq_access_tokens_hash": True, "ix_access_tokens_user_created": False}

    downgrade(engine, "0002")
    assert schema_revision(engine) == "0002"
    assert "access_tokens" not in inspect(engine).get_table_names()
    assert rows() == before, "going down drops the tokens only"

    upgrade(engine, "0003")  # and up again, onto the same rows
    assert schema_revision(engine) == "0003"
    assert rows() == before
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM access_tokens")).scalar_one() == 0
    engine.dispose()


SEARCH_INDEXES = {
    "ix_conversations_search": "CREATE INDEX ix_conversations_search ON public.conversations USING gin "
    "(to_tsvector('simple'::regconfig, (title)::text))",
    "ix_messages_search": "CREATE INDEX ix_messages_search ON public.messages USING gin "
    "(to_tsvector('simple'::regconfig, content)) WHERE ((role)::text = ANY "
    "((ARRAY['user'::character varying, 'assistant'::character varying])::text[]))",
}


def search_indexes(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE '%\\_search'"))
        return dict(rows.all())


def test_conversation_search_indexes_upgrade_a_database_with_rows_and_downgrade(postgres: LocalPostgres) -> None:
    """0004 adds the GIN indexes conversation search reads (the expressions models.search_vector builds, which
    autogenerate compares loosely, so their definitions are pinned here) onto existing rows, and takes them away
    again without touching a row."""
    engine = create_engine(fresh_database(postgres))
    upgrade(engine, "0003")
    with engine.begin() as conn:
        cid = conn.execute(
            text(
                "INSERT INTO conversations (id, user_id, title) VALUES (gen_random_uuid(), 'u', 'Q3 report') RETURNING id"
            )
        ).scalar_one()
        for role, content in [("user", "send the report"), ("assistant", "Sent."), ("tool", "{}")]:
            conn.execute(
                text("INSERT INTO messages (conversation_id, role, content) VALUES (:c, :r, :t)"),
                {"c": cid, "r": role, "t": content},
            )

    def rows() -> list[tuple[object, ...]]:
        with engine.connect() as conn:
            query = "SELECT c.title, m.role, m.content FROM conversations c JOIN messages m ON m.conversation_id = c.id"
            return [tuple(row) for row in conn.execute(text(query + " ORDER BY m.id")).all()]

    before = rows()
    assert len(before) == 3 and search_indexes(engine) == {}

    upgrade(engine, "0004")
    assert schema_revision(engine) == "0004" == head_revision()
    assert search_indexes(engine) == SEARCH_INDEXES
    assert rows() == before
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT count(*) FROM messages WHERE role IN ('user', 'assistant') "
                "AND to_tsvector('simple'::regconfig, content) @@ to_tsquery('simple', 'repo:*')"
            )
        ).scalar_one()
    assert found == 1

    downgrade(engine, "0003")
    assert schema_revision(engine) == "0003"
    assert search_indexes(engine) == {}
    assert rows() == before, "going down drops the indexes only"

    upgrade(engine)  # and up again, onto the same rows
    assert search_indexes(engine) == SEARCH_INDEXES and rows() == before
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
