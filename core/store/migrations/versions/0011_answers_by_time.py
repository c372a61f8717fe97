"""today's answers found by time

An index on `ai_responses.created_at`: the spend since midnight (checked before every question of a
workspace with a daily budget, inside the write that stores it, and shown in App Home and the
settings) reads today's answers instead of every answer the workspace has had.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_responses_created", "ai_responses", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_responses_created", table_name="ai_responses")
