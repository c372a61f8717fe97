"""The store: transactions for the service. Repositories never commit; `write()` and `read()` do."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from core.domain import WorkspaceRef
from core.errors import ConfigError, ConsensusError, SchemaNotCurrentError, StorageError
from core.store.db import create_engine, ensure_sqlite_folder, is_sqlite, session_factory
from core.store.repositories import Repository

# The newest migration. Comparing with it spares every start Alembic's import and run when the schema
# is current (most starts); tests/core/test_store.py checks that it is Alembic's head.
SCHEMA_REVISION = "0011"


class Store:
    def __init__(self, url: str) -> None:
        ensure_sqlite_folder(url)
        self.url = url
        self.engine = create_engine(url)
        # SQLite writers take the lock at BEGIN; readers get their own engine and never wait.
        self.read_engine = create_engine(url, read_only=True) if is_sqlite(url) else self.engine
        self._writes = session_factory(self.engine)
        # SQLite has one writer at a time. Queue this process's writers here rather than in
        # SQLite's busy handler, which polls with growing sleeps (up to 100 ms each).
        self.single_writer = is_sqlite(url)
        self._write_turn = asyncio.Lock() if self.single_writer else contextlib.nullcontext()
        self._reads = session_factory(self.read_engine)
        self._workspaces: dict[WorkspaceRef, int] = {}  # see Repository.workspace_id

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def migrate(self) -> None:
        from core.store.migrate import upgrade

        await upgrade(self.engine)

    async def prepare(self, *, migrate: bool) -> None:
        """Migrate if asked, then make sure the schema is the code's: a ConfigError that names the
        database (password hidden) when it cannot be reached or was never migrated."""
        async with self.reachable():
            current = await self.revision()
            if migrate and current != SCHEMA_REVISION:
                await self.migrate()
                current = await self.revision()
        if current != SCHEMA_REVISION:
            state = (
                "was never migrated"
                if current is None
                else f"is at migration {current}, the code needs {SCHEMA_REVISION}"
            )
            raise SchemaNotCurrentError(f"the database {self.shown_url} {state}")

    async def revision(self) -> str | None:
        """The schema's migration revision; None when it was never migrated."""
        async with self.engine.connect() as connection:
            if not await connection.run_sync(lambda sync: inspect(sync).has_table("alembic_version")):
                return None
            found = await connection.scalar(text("SELECT version_num FROM alembic_version"))
            return str(found) if found is not None else None

    @property
    def shown_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @asynccontextmanager
    async def reachable(self) -> AsyncIterator[None]:
        """Turns "cannot connect" into one line a person can act on, instead of a driver's traceback."""
        try:
            yield
        except ConnectionRefusedError:
            raise ConfigError(
                f"could not connect to {self.shown_url}: connection refused (is the database server running there?)."
            ) from None
        except (OSError, DBAPIError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise ConfigError(f"could not open {self.shown_url}: {reason}.") from None

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Repository]:
        """One transaction, committed when the block ends without an error."""
        try:
            async with self._write_turn, self._writes.begin() as session:
                yield Repository(session, self._workspaces, writes=True)
        except ConsensusError:
            raise
        except SQLAlchemyError as exc:
            raise StorageError() from exc

    @asynccontextmanager
    async def savepoint(self, repo: Repository) -> AsyncIterator[None]:
        """Inside `write`: a part of its transaction that a failure inside takes back alone."""
        try:
            async with repo.session.begin_nested():
                yield
        except SQLAlchemyError as exc:
            raise StorageError() from exc

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Repository]:
        try:
            async with self._reads() as session:
                yield Repository(session, self._workspaces)
        except ConsensusError:
            raise
        except SQLAlchemyError as exc:
            raise StorageError() from exc

    async def aclose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
