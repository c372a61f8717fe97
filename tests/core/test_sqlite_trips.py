"""SQLite statements make one trip to aiosqlite's thread each, and SQLAlchemy still gets everything it
reads back: rows, their columns, the row count, the last row id and the driver's errors. A BEGIN goes
with its transaction's first statement; a transaction that never began is not ended."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.store.db import create_engine

metadata = MetaData()
notes = Table("notes", metadata, Column("id", Integer, primary_key=True), Column("body", String, unique=True))


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Each trip to aiosqlite's thread, by the name of the function it runs there."""
    made: list[str] = []
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        made.append(getattr(fn, "__name__", repr(fn)))
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    yield made


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'trips.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def test_each_statement_is_one_trip_and_returns_what_it_did(engine: AsyncEngine, trips: list[str]) -> None:
    async with engine.connect() as connection:
        await connection.begin()
        trips.clear()
        inserted = await connection.execute(insert(notes).values(body="first"))
        assert inserted.inserted_primary_key == (1,)  # the last row id
        assert len(trips) == 1

        returned = await connection.execute(insert(notes).returning(notes.c.id, notes.c.body), [{"body": "second"}])
        assert [tuple(row) for row in returned] == [(2, "second")]
        assert list(returned.keys()) == ["id", "body"]  # the rows' description

        many = await connection.execute(insert(notes), [{"body": "third"}, {"body": "fourth"}])
        assert many.rowcount == 2

        changed = await connection.execute(update(notes).where(notes.c.id > 2).values(body=notes.c.body + "!"))
        assert changed.rowcount == 2

        found = await connection.execute(select(notes.c.body).order_by(notes.c.id))
        assert found.scalars().all() == ["first", "second", "third!", "fourth!"]
        assert len(trips) == 5  # one per statement: cursor, execute, fetch and close in one
        await connection.commit()


async def test_the_driver_errors_reach_sqlalchemy_as_its_own(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(notes).values(body="once"))
        with pytest.raises(IntegrityError, match="UNIQUE"):
            await connection.execute(insert(notes).values(body="once"))


async def test_a_transaction_still_begins_and_commits(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(notes).values(body="kept"))
    async with engine.begin() as connection:
        await connection.execute(insert(notes).values(body="taken back"))
        await connection.rollback()
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT body FROM notes"))).scalars().all() == ["kept"]


async def test_a_transaction_s_begin_goes_with_its_first_statement_and_an_ended_one_is_not_ended_again(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(notes).values(body="one"))
    assert trips == ["_execute", "commit"]  # BEGIN IMMEDIATE with the insert; the pool's reset makes no trip
    trips.clear()
    async with engine.connect() as connection:
        assert (await connection.execute(select(notes.c.body))).scalars().all() == ["one"]
    assert trips == ["_execute", "rollback"]
    trips.clear()
    async with engine.begin():
        pass  # nothing ran: nothing began
    assert trips == []


async def test_a_failed_statement_s_transaction_is_still_taken_back(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(insert(notes).values(body="first"))
        with pytest.raises(IntegrityError):
            await connection.execute(insert(notes).values(body="first"))
        await connection.rollback()
        assert not connection.in_transaction()
        await connection.execute(insert(notes).values(body="second"))  # a new transaction begins
        await connection.commit()
    async with engine.connect() as connection:
        assert (await connection.execute(select(notes.c.body))).scalars().all() == ["second"]
