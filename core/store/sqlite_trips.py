"""SQLite through aiosqlite with one trip to its thread per statement.

aiosqlite runs SQLite in a thread of its own, and SQLAlchemy's adapter for it makes three or four
trips there per statement: open a cursor, execute, fetch the rows, close. Each trip comes back
through the event loop, which in a burst is busy for a millisecond or more per turn, and SQLite has
one writer: every trip a write makes is a wait for the questions queued behind it. Here a statement
opens its cursor, executes, fetches and closes in one function run in that thread, and the adapter
keeps what SQLAlchemy reads afterwards (the rows, their description, the row count and the last row
id). A transaction's BEGIN goes with its first statement, and ending a transaction that never began
(the pool's reset after a commit, a transaction that ran nothing) makes no trip: a one-statement
transaction is two trips, not four. Everything else is SQLAlchemy's adapter, unchanged.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

_Outcome = tuple[Any, int, int | None, list[Any]]  # description, row count, last row id, rows


def _execute(
    connection: sqlite3.Connection, begin: str | None, operation: str, parameters: Any, many: bool
) -> _Outcome:
    """In aiosqlite's thread: the transaction's BEGIN if it is the first statement, then the whole
    statement, from cursor to close."""
    if begin is not None:
        connection.execute(begin)
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, () if parameters is None else parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_description", "_lastrowid", "_rowcount")
    _awaitable_cursor_close = False  # the cursor is closed in the thread, with its statement

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # none is held between statements
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        await self._run(operation, seq_of_parameters, many=True)

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        adapted = cast(_OneTripConnection, self._adapt_connection)
        async with adapted._execute_mutex:
            begin, adapted.begin = adapted.begin, None
            # aiosqlite's own way into its thread (its cursors use it the same way)
            outcome = await connection._execute(  # type: ignore[no-untyped-call]
                _execute, connection._conn, begin, operation, parameters, many
            )
        self._description, self._rowcount, self._lastrowid, rows = outcome
        self._rows = collections.deque(rows)


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("begin",)
    _cursor_cls = _OneTripCursor  # type: ignore[assignment]  # a subclass: mypy reads the attribute as invariant

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.begin: str | None = None  # the BEGIN of a transaction whose first statement has not run

    def rollback(self) -> None:
        if self._began():
            super().rollback()

    def commit(self) -> None:
        if self._began():
            super().commit()

    def _began(self) -> bool:
        """Whether SQLite has a transaction to end; a BEGIN still waiting for its statement is dropped."""
        waiting, self.begin = self.begin, None
        sqlite = self._connection._connection  # None once closed: SQLAlchemy's adapter skips it too
        return waiting is None and sqlite is not None and sqlite.in_transaction


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module for `create_async_engine(..., module=OneTripDBAPI())`."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> _OneTripConnection:
        connection = aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True  # as SQLAlchemy's: a connection never disposed of keeps no process alive
        return _OneTripConnection(self, cast(Any, await_(connection)))
