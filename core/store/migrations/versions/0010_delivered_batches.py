"""a batch is kept leased until its cards are delivered

`delivered_at` on request_batches: when the platform last showed the batch's cards in their final
state. A finished batch that was never delivered (its process died while posting or editing) is
adopted by the next process, which rebuilds its cards from the database. Batches finished before
this migration count as delivered.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("request_batches", sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_batches_delivery", "request_batches", ["delivered_at", "lease_expires_at"])
    op.execute(
        "UPDATE request_batches SET delivered_at = COALESCE(finished_at, created_at) "
        "WHERE status NOT IN ('PENDING', 'RUNNING')"
    )


def downgrade() -> None:
    op.drop_index("ix_batches_delivery", table_name="request_batches")
    # Not batch mode: on SQLite that copies the table, and dropping the old one would cascade to its answers
    op.execute("ALTER TABLE request_batches DROP COLUMN delivered_at")
