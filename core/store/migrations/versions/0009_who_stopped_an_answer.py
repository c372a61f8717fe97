"""who stopped an answer

`stopped_by` on ai_responses: the person who stopped an answer while it was written (Stop). The
stop itself is the answer's ending "stopped", written before the model's request is cancelled, so
that no process ever stores the answer as finished afterwards.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ai_responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stopped_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ai_responses", schema=None) as batch_op:
        batch_op.drop_column("stopped_by")
