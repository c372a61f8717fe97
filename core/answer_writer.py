"""Finished answers are written to the store in groups: under load one transaction (and one
commit) carries many answers, instead of each waiting its turn for the database."""

from __future__ import annotations

import asyncio

from core.store.finished_rows import AnswerFlags, FinishedAnswer
from core.store.store import Store


class AnswerWriter:
    """Stores finished answers. Answers that finish while a write is under way are stored together
    by the next one: under load one transaction (and one commit) carries many answers, instead of
    each waiting its turn for the database."""

    def __init__(self, store: Store, owner: str) -> None:
        self.store, self.owner = store, owner
        self._queue: list[tuple[FinishedAnswer, asyncio.Future[AnswerFlags | None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def store_answer(self, finished: FinishedAnswer) -> AnswerFlags | None:
        """The stored answer's flags, or None when another process took its batch over."""
        future: asyncio.Future[AnswerFlags | None] = asyncio.get_running_loop().create_future()
        self._queue.append((finished, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued(), name="answer-writer")
        return await future

    async def idle(self) -> None:
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _write_queued(self) -> None:
        group: list[tuple[FinishedAnswer, asyncio.Future[AnswerFlags | None]]] = []
        try:
            while self._queue:
                group, self._queue = self._queue, []
                if not await self._write_group(group) and len(group) > 1:
                    for entry in group:  # one answer the database refuses must not fail the others
                        await self._write_group([entry])
        finally:  # cancelled: nobody waits forever
            for _item, future in group + self._queue:
                future.cancel()

    async def _write_group(self, group: list[tuple[FinishedAnswer, asyncio.Future[AnswerFlags | None]]]) -> bool:
        try:
            async with self.store.write() as repo:
                stored = await repo.finished.store_answers(self.owner, [item for item, _ in group])
        except Exception as exc:
            if len(group) == 1 and not group[0][1].done():
                group[0][1].set_exception(exc)
            return False
        for item, future in group:
            if not future.done():
                future.set_result(stored.get(item.answer_id))
        return True
