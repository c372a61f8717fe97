"""Alembic environment: runs on the connection handed over by core.store.migrate."""

from __future__ import annotations

from typing import Any

from alembic import context

from core.store.tables import Base

# Full-text objects are dialect-specific and live only in the migrations.
UNMODELLED = ("search_documents_fts", "ix_search_documents_tsv")


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (name or "").startswith(UNMODELLED)


def run_migrations(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `consensus db upgrade`")
run_migrations(connection)
