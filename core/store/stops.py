"""Stopped answers (Stop). A stop is written here before any request is cancelled: the answer's
ending becomes "stopped", and from then on every write of that answer keeps it stopped, whichever
process makes it. The stop locks the batch's row, as storing an answer does (repositories.py), so
the two never cross: an answer is stored either before the stop (and is not stopped) or after it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.domain import NOTHING_KEPT, AnswerStatus, Ending
from core.store.tables import AiResponse, RequestBatch, utcnow

STOPPED = Ending.STOPPED.value
NOTHING_KEPT_ERROR = f"Stopped; {NOTHING_KEPT}."
_UNFINISHED = (AnswerStatus.PENDING.value, AnswerStatus.RUNNING.value)


def as_stopped(values: Mapping[str, Any]) -> dict[str, Any]:
    """What is stored of an answer stopped meanwhile, whatever its writer brings: the text that
    arrived (all of it, if the model finished as the stop came) ends "stopped"; no text is no answer."""
    kept = {**values, "ended": STOPPED}
    if values.get("status") == AnswerStatus.FAILED.value:
        kept["error"] = NOTHING_KEPT_ERROR
    return kept


def close_unwritten(row: AiResponse) -> None:
    """A stopped answer nobody will write: not asked yet, or its process died with the text."""
    row.status, row.error, row.ended = AnswerStatus.FAILED.value, NOTHING_KEPT_ERROR, STOPPED
    row.completed_at = utcnow()


def is_stopping(row: AiResponse) -> bool:
    """Stopped, and not stored as stopped yet: its writer (if alive) is cancelling its call."""
    return row.ended == STOPPED and row.status in _UNFINISHED


class StopRows:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def stop(self, batch_id: int, user_id: str) -> list[AiResponse]:
        """Stop the batch's answers still being written; the ones stopped. An answer not asked yet is
        closed at once; a running one is closed by its writer with what arrived."""
        await self.session.execute(select(RequestBatch.id).where(RequestBatch.id == batch_id).with_for_update())
        rows = await self.session.scalars(
            select(AiResponse)
            .where(AiResponse.batch_id == batch_id, AiResponse.status.in_(_UNFINISHED))
            .order_by(AiResponse.id)
            .execution_options(populate_existing=True)  # as they are now, under the batch's lock
        )
        stopped = [row for row in rows if not row.is_deleted and row.ended != STOPPED]
        for row in stopped:
            row.ended, row.stopped_by = STOPPED, user_id
            if row.status == AnswerStatus.PENDING.value:
                close_unwritten(row)
        await self.session.flush()
        return stopped

    async def stopped_among(self, answer_ids: Sequence[int]) -> set[int]:
        """Which of these answers were stopped (call under the batch's lock to rely on it)."""
        if not answer_ids:
            return set()
        found = await self.session.scalars(
            select(AiResponse.id).where(AiResponse.id.in_(answer_ids), AiResponse.ended == STOPPED)
        )
        return set(found)

    async def requested(self, answer_ids: Iterable[int]) -> list[int]:
        """Which of these running answers someone stopped (on any replica): their calls are cancelled."""
        ids = list(answer_ids)
        if not ids:
            return []
        found = await self.session.scalars(
            select(AiResponse.id).where(
                AiResponse.id.in_(ids), AiResponse.ended == STOPPED, AiResponse.status == AnswerStatus.RUNNING.value
            )
        )
        return list(found)
