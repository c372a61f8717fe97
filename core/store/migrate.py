"""Alembic, driven from code: `consensus db upgrade`, and the embedded default at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")
# Full-text objects are dialect-specific and live only in the migrations, not in the models:
# SQLite's FTS5 table, PostgreSQL's stored tsvector column and its GIN index.
UNMODELLED = ("search_documents_fts", "ix_search_documents_tsv", "body_tsv")


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (name or "").startswith(UNMODELLED)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def _run(engine: AsyncEngine, action: Any, *args: Any) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))

    def run(connection: Any) -> None:
        config.attributes["connection"] = connection
        action(config, *args)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    await _run(engine, command.upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    await _run(engine, command.downgrade, revision)
