"""listing and search indexes

The history listing gets an index holding its whole ORDER BY (id included) behind the archived
filter, and search documents get an index by conversation, for snippets and the newest-first walk.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_workspace_updated")
        batch_op.create_index(
            "ix_conversations_listing", ["workspace_id", "archived", "updated_at", "id"], unique=False
        )
    with op.batch_alter_table("search_documents", schema=None) as batch_op:
        batch_op.create_index("ix_search_documents_conversation", ["conversation_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("search_documents", schema=None) as batch_op:
        batch_op.drop_index("ix_search_documents_conversation")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_listing")
        batch_op.create_index("ix_conversations_workspace_updated", ["workspace_id", "updated_at"], unique=False)
