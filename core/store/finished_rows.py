"""Finished answers and their ranking, stored in a few statements for any number of answers: the
writes of the fan-out, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Table, bindparam, case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.store import search
from core.store.stops import StopRows, as_stopped
from core.store.tables import AiResponse, RequestBatch

_ANSWERS: Table = AiResponse.__table__  # type: ignore[assignment]  # a mapped class's table is a Table
# What a user may change on an answer while it runs; read back when it is stored.
_ANSWER_FLAGS = (
    _ANSWERS.c.id,
    _ANSWERS.c.is_selected,
    _ANSWERS.c.selected_by,
    _ANSWERS.c.is_deleted,
    _ANSWERS.c.is_expanded,
    _ANSWERS.c.ended,  # with the two below: a stop wins over what the writer brought
    _ANSWERS.c.error,
    _ANSWERS.c.stopped_by,
)


@dataclass(frozen=True)
class FinishedAnswer:
    """One model's outcome, ready to store: the columns to set, and the text to index if any."""

    answer_id: int
    batch_id: int
    workspace_id: int
    conversation_id: int
    succeeded: bool  # counted in the batch's `completed`
    values: Mapping[str, Any]  # ai_responses columns
    indexed_body: str | None = None  # searchable text of a completed answer


@dataclass(frozen=True)
class AnswerFlags:
    is_selected: bool
    selected_by: str | None
    is_deleted: bool
    is_expanded: bool
    ended: str | None
    error: str | None
    stopped_by: str | None


class FinishedRows:
    def __init__(self, session: AsyncSession, stops: StopRows) -> None:
        self.session, self._stops = session, stops

    async def store_scores(self, scores: Sequence[tuple[int, float, str | None, str, int]]) -> None:
        """(answer id, score, rank reason, method, rank) for each ranked answer, in one statement; the
        card's why (the model's own) is left as it is."""
        if scores:
            await self.session.execute(
                update(_ANSWERS)
                .where(_ANSWERS.c.id == bindparam("answer_id"))
                .values(
                    ranking_score=bindparam("score"),
                    rank_reason=bindparam("reason"),
                    score_method=bindparam("method"),
                    rank=bindparam("position"),
                ),
                [dict(zip(("answer_id", "score", "reason", "method", "position"), row, strict=True)) for row in scores],
            )

    async def store_answers(self, owner: str, finished: Sequence[FinishedAnswer]) -> dict[int, AnswerFlags]:
        """Store finished answers of batches `owner` still holds, a few statements for any number of
        answers; each batch's `completed` counter counts its answers in the same statement as the
        ownership check. That statement locks the batch rows until the transaction ends (PostgreSQL),
        so a replica claiming one meanwhile waits: no answer is stored or posted twice. Returns the
        stored answers' flags by id; the others' batches were taken over."""
        per_batch: dict[int, int] = {}
        for item in finished:
            per_batch[item.batch_id] = per_batch.get(item.batch_id, 0) + int(item.succeeded)
        owned = set(
            await self.session.scalars(
                update(RequestBatch)
                .where(RequestBatch.id.in_(sorted(per_batch)), RequestBatch.lease_owner == owner)
                .values(completed=RequestBatch.completed + case(per_batch, value=RequestBatch.id, else_=0))
                .returning(RequestBatch.id)
            )
        )
        stored = [item for item in finished if item.batch_id in owned]
        if not stored:
            return {}
        stopped = await self._stops.stopped_among([item.answer_id for item in stored])  # under the batches' lock
        stored = [replace(i, values=as_stopped(i.values)) if i.answer_id in stopped else i for i in stored]
        for columns in {tuple(item.values) for item in stored}:  # one statement per set of columns
            same = [item for item in stored if tuple(item.values) == columns]
            statement = (
                update(_ANSWERS)
                .where(_ANSWERS.c.id == bindparam("answer_id"))
                .values({name: bindparam(f"new_{name}") for name in columns})
            )
            await self.session.execute(
                statement,
                [{"answer_id": item.answer_id, **{f"new_{k}": v for k, v in item.values.items()}} for item in same],
            )
        await search.index(
            self.session,
            [
                {
                    "workspace_id": a.workspace_id,
                    "conversation_id": a.conversation_id,
                    "source": "answer",
                    "source_id": a.answer_id,
                    "body": a.indexed_body,
                }
                for a in stored
                if a.indexed_body is not None
            ],
        )
        rows = await self.session.execute(
            select(*_ANSWER_FLAGS).where(_ANSWERS.c.id.in_([item.answer_id for item in stored]))
        )
        return {row.id: AnswerFlags(*row[1:]) for row in rows}
