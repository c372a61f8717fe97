"""the channels where the bot answers

`allowed_channels` on a workspace's own settings row (channel ""): the channels where a question may
be asked. NULL means every channel, so existing workspaces keep answering everywhere.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("allowed_channels", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_settings", schema=None) as batch_op:
        batch_op.drop_column("allowed_channels")
