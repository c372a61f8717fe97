"""the cost estimate's confirmation threshold, and a model's latest answers found fast

`confirm_above_usd` on a workspace's own settings row: above this estimate the asker confirms a
question first. NULL (every existing workspace) never asks. The index lets the estimate read a
model's latest answers without scanning them all.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_settings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("confirm_above_usd", sa.Numeric(precision=12, scale=4, asdecimal=False), nullable=True)
        )
    op.create_index("ix_responses_model_recent", "ai_responses", ["provider_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_responses_model_recent", table_name="ai_responses")
    with op.batch_alter_table("model_settings", schema=None) as batch_op:
        batch_op.drop_column("confirm_above_usd")
