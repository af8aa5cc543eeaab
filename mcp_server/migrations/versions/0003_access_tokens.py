"""personal access tokens: one row per token, holding its SHA-256, never the token

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "access_tokens",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("user_id", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("char_length(name) BETWEEN 1 AND 100", name="ck_access_tokens_name_length"),
    )
    op.create_index("uq_access_tokens_hash", "access_tokens", ["token_hash"], unique=True)
    op.create_index("ix_access_tokens_user_created", "access_tokens", ["user_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_access_tokens_user_created", table_name="access_tokens")
    op.drop_index("uq_access_tokens_hash", table_name="access_tokens")
    op.drop_table("access_tokens")
