"""merged answers, and each workspace's merge setting

`ai_responses.role` tells a model's own answer ("answer") from one written from the kept answers
("merge"); every answer stored before is a model's own. `model_settings.merging` and
`model_settings.merger` are a workspace's choice of when to merge and which model writes it (NULL:
on request, and the operator's default model). request_batches is left alone: on SQLite, dropping a
column rebuilds the table, and rebuilding a parent table would cascade-delete its answers.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ai_responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=16), server_default="answer", nullable=False))
    with op.batch_alter_table("model_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merging", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("merger", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_settings", schema=None) as batch_op:
        batch_op.drop_column("merger")
        batch_op.drop_column("merging")
    with op.batch_alter_table("ai_responses", schema=None) as batch_op:
        batch_op.drop_column("role")
