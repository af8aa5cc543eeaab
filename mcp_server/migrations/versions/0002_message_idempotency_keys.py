"""message idempotency keys: a retried append_messages with the same key stores nothing again

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column without a default: no table rewrite. The partial index starts empty (every row is NULL).
    op.add_column("messages", sa.Column("idempotency_key", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_messages_conversation_idempotency_key",
        "messages",
        ["conversation_id", "idempotency_key"],
        unique=False,
        postgresql_where="idempotency_key IS NOT NULL",
    )


def downgrade() -> None:
    op.drop_index(
        "ix_messages_conversation_idempotency_key",
        table_name="messages",
        postgresql_where="idempotency_key IS NOT NULL",
    )
    op.drop_column("messages", "idempotency_key")
