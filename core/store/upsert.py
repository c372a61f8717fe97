"""INSERT ... ON CONFLICT, which SQLAlchemy spells in each dialect's own module."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def upsert(session: AsyncSession, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `table` that offers `on_conflict_do_nothing` / `on_conflict_do_update` on the
    session's database (both dialects name them alike)."""
    dialect = session.get_bind().dialect.name
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
