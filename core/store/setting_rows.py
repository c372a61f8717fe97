"""Queries behind per-workspace settings and the limits checked before a question is stored."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from core.cost import CostTotal
from core.domain import AnswerStatus
from core.store.tables import AiResponse, Conversation, Message, ModelSetting, Workspace, utcnow
from core.store.upsert import upsert


class SettingRows:
    """model_settings rows ("" is the workspace's own, a channel id its override) and usage counts."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_channel(self, workspace_id: int, channels: Sequence[str]) -> dict[str, ModelSetting]:
        rows = await self.session.scalars(
            select(ModelSetting).where(ModelSetting.workspace_id == workspace_id, ModelSetting.channel.in_(channels))
        )
        return {row.channel: row for row in rows}

    async def row(self, workspace_id: int, channel: str) -> ModelSetting:
        """The settings row for (workspace, channel), created when missing (safe under concurrency)."""
        await self.session.execute(
            upsert(self.session, ModelSetting)
            .values(workspace_id=workspace_id, channel=channel, models=[], updated_at=utcnow())
            .on_conflict_do_nothing()
        )
        found = await self.session.scalar(
            select(ModelSetting).where(ModelSetting.workspace_id == workspace_id, ModelSetting.channel == channel)
        )
        assert found is not None
        return found

    async def drop(self, workspace_id: int, channel: str) -> None:
        await self.session.execute(
            delete(ModelSetting).where(ModelSetting.workspace_id == workspace_id, ModelSetting.channel == channel)
        )

    async def serialise_admissions(self, workspace_id: int) -> None:
        """One admission at a time per workspace, so limits hold exactly: a PostgreSQL row lock until
        the transaction ends. SQLite writers already run one at a time."""
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(select(Workspace.id).where(Workspace.id == workspace_id).with_for_update())

    async def question_times(self, workspace_id: int, user: str, since: datetime, limit: int) -> list[datetime]:
        """When `user` asked in the workspace after `since`, newest first, at most `limit` of them."""
        return list(
            await self.session.scalars(
                select(Message.created_at)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Conversation.workspace_id == workspace_id, Message.author == user, Message.created_at > since)
                .order_by(Message.created_at.desc())
                .limit(limit)
            )
        )

    async def spent_since(self, workspace_id: int, since: datetime) -> CostTotal:
        """What the workspace's answers cost since `since`: the known dollars, and how many finished
        answers have no known price."""
        unpriced = and_(AiResponse.cost_usd.is_(None), AiResponse.status == AnswerStatus.COMPLETED.value)
        row = (
            await self.session.execute(
                select(func.coalesce(func.sum(AiResponse.cost_usd), 0.0), func.count().filter(unpriced))
                .join(Conversation, Conversation.id == AiResponse.conversation_id)
                .where(Conversation.workspace_id == workspace_id, AiResponse.created_at >= since)
            )
        ).one()
        return CostTotal(float(row[0] or 0.0), int(row[1] or 0))

    async def recent_output_tokens(
        self, workspace_id: int, provider_ids: Sequence[str], limit: int
    ) -> dict[str, list[int]]:
        """Per model, the output tokens of its latest `limit` finished answers in the workspace (not
        merges). One statement: a short walk of its index per model, from the newest answer."""
        latest = [
            select(AiResponse.provider_id, AiResponse.id, AiResponse.tokens_out)
            .join(Conversation, Conversation.id == AiResponse.conversation_id)
            .where(
                AiResponse.provider_id == provider_id,
                Conversation.workspace_id == workspace_id,
                AiResponse.status == AnswerStatus.COMPLETED.value,
                AiResponse.role == "answer",
                AiResponse.tokens_out.is_not(None),
            )
            .order_by(AiResponse.provider_id.desc(), AiResponse.id.desc())
            .limit(limit)
            .subquery()
            for provider_id in provider_ids
        ]
        rows = (await self.session.execute(union_all(*(select(each) for each in latest)))).all() if latest else []
        found: dict[str, list[int]] = {provider_id: [] for provider_id in provider_ids}
        for provider_id, _id, tokens in sorted(rows, key=lambda row: row.id, reverse=True):  # a union keeps no order
            found[provider_id].append(int(tokens))
        return found
