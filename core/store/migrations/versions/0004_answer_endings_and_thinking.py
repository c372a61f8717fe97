"""how each answer ended, and the model's reasoning kept apart

`ended` says whether an answer is whole or was cut (output limit, content filter, connection
closed) or refused; `thinking` holds the model's own reasoning (`<think>` text, reasoning fields,
thinking blocks), shown on Expand and never summarised, ranked or sent back as context;
`replaced_characters` marks a reply that was not valid UTF-8. Answers stored before have no
ending (NULL), which reads as whole.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ai_responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ended", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("thinking", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("replaced_characters", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("ai_responses", schema=None) as batch_op:
        batch_op.drop_column("replaced_characters")
        batch_op.drop_column("thinking")
        batch_op.drop_column("ended")
