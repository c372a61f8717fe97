"""the rank's reason kept apart from the model's why

`reasoning` holds the card's why: the model's own WHY line, or a local extract. The ranker's short
reason for the rank ("3 of 3 agree on 42") gets its own column instead of overwriting it. Answers
ranked before this migration had the ranker's reason in `reasoning` (the model's why was lost),
so for those the reason moves to `rank_reason` and the why is left empty.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ANSWERS = sa.table(
    "ai_responses",
    sa.column("reasoning", sa.String),
    sa.column("rank_reason", sa.String),
    sa.column("score_method", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("ai_responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rank_reason", sa.String(length=120), nullable=True))
    ranked = _ANSWERS.c.score_method.is_not(None)
    op.execute(_ANSWERS.update().where(ranked).values(rank_reason=_ANSWERS.c.reasoning, reasoning=None))


def downgrade() -> None:
    op.execute(
        _ANSWERS.update()
        .where(_ANSWERS.c.rank_reason.is_not(None))
        .values(reasoning=sa.func.coalesce(_ANSWERS.c.reasoning, _ANSWERS.c.rank_reason))
    )
    with op.batch_alter_table("ai_responses", schema=None) as batch_op:
        batch_op.drop_column("rank_reason")
