"""Which platform message shows each question and answer: stored as soon as it is posted, read
back to edit it later (on any replica, after a restart)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.domain import MessageRef
from core.store.tables import PlatformMessage, utcnow
from core.store.upsert import upsert


class MessageRows:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def remember(self, workspace_id: int, refs: Sequence[tuple[str, int, MessageRef]]) -> None:
        """Which platform message shows each (kind, target id); one statement for them all."""
        if not refs:
            return
        now = utcnow()
        statement = upsert(self.session, PlatformMessage).values(
            [
                {
                    "workspace_id": workspace_id,
                    "kind": kind,
                    "target_id": target_id,
                    "channel": ref.channel,
                    "message_id": ref.message_id,
                    "created_at": now,
                }
                for kind, target_id, ref in refs
            ]
        )
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["workspace_id", "kind", "target_id"],
                set_={"channel": statement.excluded.channel, "message_id": statement.excluded.message_id},
            )
        )

    async def of(self, workspace_id: int, kind: str, target_id: int) -> MessageRef | None:
        row = (
            await self.session.execute(
                select(PlatformMessage.channel, PlatformMessage.message_id).where(
                    PlatformMessage.workspace_id == workspace_id,
                    PlatformMessage.kind == kind,
                    PlatformMessage.target_id == target_id,
                )
            )
        ).first()
        return MessageRef(row[0], row[1]) if row else None
