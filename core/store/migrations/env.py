"""Alembic environment: runs on the connection handed over by core.store.migrate."""

from __future__ import annotations

from typing import Any

from alembic import context

from core.store.migrate import include_object
from core.store.tables import Base


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
