"""conversation search: GIN indexes on the words of conversation titles and of user and assistant messages

Expression indexes (`to_tsvector('simple', ...)`, the expression search_conversations queries with), not stored
tsvector columns: adding them rewrites no table and there is nothing to keep in sync. Building them takes a SHARE
lock (reads go on, writes wait) for as long as the build takes; on a large messages table build them by hand with
CREATE INDEX CONCURRENTLY first (same names and definitions), and this migration then skips them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 10:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_conversations_search ON conversations "
        "USING gin (to_tsvector('simple'::regconfig, title))"
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_messages_search ON messages "
        "USING gin (to_tsvector('simple'::regconfig, content)) WHERE role IN ('user', 'assistant')"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_messages_search")
    op.execute("DROP INDEX IF EXISTS ix_conversations_search")
