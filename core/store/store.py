"""The store: transactions for the service. Repositories never commit; `write()` and `read()` do."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import SQLAlchemyError

from core.domain import WorkspaceRef
from core.errors import ConsensusError, StorageError
from core.store.db import create_engine, is_sqlite, session_factory
from core.store.migrate import ensure_sqlite_folder, upgrade
from core.store.repositories import Repository


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
        self._write_turn = asyncio.Lock() if is_sqlite(url) else contextlib.nullcontext()
        self._reads = session_factory(self.read_engine)
        self._workspaces: dict[WorkspaceRef, int] = {}  # see Repository.workspace_id

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def migrate(self) -> None:
        await upgrade(self.engine)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Repository]:
        """One transaction, committed when the block ends without an error."""
        try:
            async with self._write_turn, self._writes.begin() as session:
                yield Repository(session, self._workspaces)
        except ConsensusError:
            raise
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
