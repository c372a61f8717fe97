"""Writes made in groups where the database has one writer (SQLite): new questions, and where their
messages were posted. The writes that arrive while the store is busy are made together, in one
transaction, each under a savepoint of its own, so that one refused question takes back only what it
wrote. A burst then waits for one commit and one turn at the database instead of one per write.
A write may leave its rows for `Later`: after the group's savepoints, the rows of all such writes are
stored together (one statement per table, instead of one per write and table).
Elsewhere (PostgreSQL) each write is its own transaction, and they run side by side."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from core.store.repositories import Repository
from core.store.store import Store

T = TypeVar("T")
Item = TypeVar("Item")
MAX_GROUP = 50  # writes per transaction: a group stays a few hundred ms at most under load


@dataclass(frozen=True)
class Later(Generic[Item, T]):
    """A write's result, still to be stored: `store_all` stores the items of every write of the group
    that returned the same `store_all`, and gives their results in the same order."""

    item: Item
    store_all: Callable[[Repository, list[Item]], Awaitable[list[T]]]


async def _stored(repo: Repository, results: list[Any]) -> list[Any]:
    """`results` with each `Later` one replaced by what it stores."""
    stored = list(results)
    waiting: dict[Any, list[int]] = {}  # store_all -> indexes in `results`
    for index, result in enumerate(results):
        if isinstance(result, Later):
            waiting.setdefault(result.store_all, []).append(index)
    for store_all, indexes in waiting.items():
        done = await store_all(repo, [results[i].item for i in indexes])
        for index, result in zip(indexes, done, strict=True):
            stored[index] = result
    return stored


class _Job(Generic[T]):
    def __init__(
        self, write: Callable[[Repository], Awaitable[T | Later[Any, T]]], committed: Callable[[T], None]
    ) -> None:
        self.write, self.committed = write, committed
        self.future: asyncio.Future[T] = asyncio.get_running_loop().create_future()


class GroupedWriter:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: list[_Job[Any]] = []
        self._writer: asyncio.Task[None] | None = None
        self._running: set[asyncio.Future[Any]] = set()  # elsewhere: the writes under way, each its own

    @property
    def waiting(self) -> int:
        """Writes waiting for their turn at the database."""
        return len(self._queue)

    async def write(
        self,
        write: Callable[[Repository], Awaitable[T | Later[Any, T]]],
        committed: Callable[[T], None] = lambda _result: None,
    ) -> T:
        """`write`'s result once committed; `committed` is called with it first (it runs even when the
        caller has gone, so that a stored question's models are never left waiting)."""
        if not self.store.single_writer:
            running = asyncio.get_running_loop().create_future()
            self._running.add(running)
            try:
                async with self.store.write() as repo:
                    stored: list[T] = await _stored(repo, [await write(repo)])
            finally:
                self._running.discard(running)
                running.set_result(None)
            result = stored[0]
            committed(result)
            return result
        job = _Job(write, committed)
        job.future.add_done_callback(_retrieved)  # a caller that has gone leaves no "never retrieved" warning
        self._queue.append(job)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued(), name="grouped-writer")
        return await asyncio.shield(job.future)

    async def drain(self) -> None:
        """Once the writes queued or under way are written: before the store closes, so that none of
        them opens it again."""
        while under_way := self._under_way():
            await asyncio.wait(under_way)

    def _under_way(self) -> set[asyncio.Future[Any]]:
        under_way = set(self._running)
        if self._writer is not None and not self._writer.done():
            under_way.add(self._writer)
        return under_way

    async def _write_queued(self) -> None:
        try:
            while self._queue:
                await self._write_group()
        finally:  # cancelled (the process stops): nobody waits forever
            for job in self._queue:
                job.future.cancel()
            self._queue = []

    async def _write_group(self) -> None:
        group: list[_Job[Any]] = []
        written: list[tuple[_Job[Any], Any]] = []
        try:
            async with self.store.write() as repo:
                # taken once it is this writer's turn: the questions that came while it waited join
                group, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
                if len(group) == 1:  # alone: a refusal rolls back the whole transaction
                    written.append((group[0], await group[0].write(repo)))
                else:
                    for job in group:
                        try:
                            async with self.store.savepoint(repo):
                                written.append((job, await job.write(repo)))
                        except Exception as exc:  # a refusal: this write took back what it wrote
                            job.future.set_exception(exc)
                results = await _stored(repo, [result for _job, result in written])  # a failure fails all
                written = [(job, result) for (job, _later), result in zip(written, results, strict=True)]
        except BaseException as exc:  # the transaction failed, or the process stops: none is stored
            if not group:  # it failed before taking its group: the writes waiting fail with it
                group, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
            for job in group:
                if not job.future.done():
                    job.future.set_exception(exc) if isinstance(exc, Exception) else job.future.cancel()
            if not isinstance(exc, Exception):
                raise
            return
        for job, result in written:
            try:
                job.committed(result)
            except Exception as exc:
                job.future.set_exception(exc)
            else:
                job.future.set_result(result)


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
