"""Items written to the store in groups, a few statements for any number of them: finished answers,
and ranked batches. Items that arrive while a group is being written go together in the next one:
under load one transaction (and one commit, and on SQLite one turn at its single writer) carries
many, instead of each waiting its turn for the database. Unlike `GroupedWriter` (questions), whose
writes are any code, each under a savepoint, a bulk writer's items are plain values that one
function stores together."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from core.store.repositories import Repository
from core.store.store import Store

Item = TypeVar("Item")
Result = TypeVar("Result")


class BulkWriter(Generic[Item, Result]):
    def __init__(
        self, store: Store, write_all: Callable[[Repository, Sequence[Item]], Awaitable[list[Result]]]
    ) -> None:
        """`write_all` stores a group in the transaction it is given and returns one result per item."""
        self.store, self.write_all = store, write_all
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, item: Item) -> Result:
        """`item`'s result once its group is committed."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued(), name="bulk-writer")
        return await future

    async def idle(self) -> None:
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _write_queued(self) -> None:
        group: list[tuple[Item, asyncio.Future[Result]]] = []
        try:
            while self._queue:
                group, self._queue = self._queue, []
                if not await self._write_group(group) and len(group) > 1:
                    for entry in group:  # one item the database refuses must not fail the others
                        await self._write_group([entry])
        finally:  # cancelled: nobody waits forever
            for _item, future in group + self._queue:
                future.cancel()

    async def _write_group(self, group: list[tuple[Item, asyncio.Future[Result]]]) -> bool:
        try:
            async with self.store.write() as repo:
                results = await self.write_all(repo, [item for item, _ in group])
        except Exception as exc:
            if len(group) == 1 and not group[0][1].done():
                group[0][1].set_exception(exc)
            return False
        for (_item, future), result in zip(group, results, strict=True):
            if not future.done():
                future.set_result(result)
        return True
