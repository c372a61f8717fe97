"""The query behind the leaderboard: each answer a workspace's models gave in a time window."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.store.tables import AiResponse, Conversation


class AnswerOutcome(NamedTuple):
    model: str  # the answer's own model id: a merged answer counts for its merge model
    selected: bool
    rank: int | None
    latency_ms: int | None
    cost_usd: float | None


async def answer_outcomes(
    session: AsyncSession, workspace_id: int, since: datetime, channel: str | None
) -> list[AnswerOutcome]:
    """Every completed answer in the workspace (or one channel) created at or after `since`, deleted
    ones included: they were given, and not chosen."""
    query = (
        select(
            AiResponse.provider_id, AiResponse.is_selected, AiResponse.rank, AiResponse.latency_ms, AiResponse.cost_usd
        )
        .join(Conversation, Conversation.id == AiResponse.conversation_id)
        .where(
            Conversation.workspace_id == workspace_id,
            AiResponse.status == "completed",
            AiResponse.created_at >= since,
        )
    )
    if channel is not None:
        query = query.where(Conversation.channel == channel)
    return [AnswerOutcome(*row) for row in await session.execute(query)]
