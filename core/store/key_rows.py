"""Queries behind stored API keys (encrypted before they get here)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.store.tables import ApiKey
from core.store.upsert import upsert


class KeyRows:
    """api_keys rows: one per (workspace, scope, user, provider); `user_id` is "" for the team's key."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def put(
        self, workspace_id: int, scope: str, user_id: str, provider: str, token: bytes, hint: str, now: datetime
    ) -> None:
        """Store the key, replacing one of the same scope (never used yet, either way)."""
        replaced = {"encrypted_value": token, "hint": hint, "created_at": now, "last_used_at": None}
        await self.session.execute(
            upsert(self.session, ApiKey)
            .values(workspace_id=workspace_id, scope=scope, user_id=user_id, provider=provider, **replaced)
            .on_conflict_do_update(index_elements=["workspace_id", "scope", "user_id", "provider"], set_=replaced)
        )

    async def visible_to(self, workspace_id: int, user_id: str) -> list[ApiKey]:
        """The team's keys and the user's own, by provider then scope."""
        rows = await self.session.scalars(
            select(ApiKey)
            .where(ApiKey.workspace_id == workspace_id, (ApiKey.scope == "workspace") | (ApiKey.user_id == user_id))
            .order_by(ApiKey.provider, ApiKey.scope)
        )
        return list(rows)

    async def payable(self, workspace_id: int, user_id: str, provider: str | None) -> list[ApiKey]:
        """The keys that could pay for the user's question: their own and the team's (of one provider, or all)."""
        query = select(ApiKey).where(
            ApiKey.workspace_id == workspace_id,
            ((ApiKey.scope == "user") & (ApiKey.user_id == user_id)) | (ApiKey.scope == "workspace"),
        )
        if provider is not None:
            query = query.where(ApiKey.provider == provider)
        return list(await self.session.scalars(query))

    async def mark_used(self, ids: Iterable[int], when: datetime) -> None:
        await self.session.execute(update(ApiKey).where(ApiKey.id.in_(list(ids))).values(last_used_at=when))

    async def delete(self, workspace_id: int, scope: str, user_id: str, provider: str) -> bool:
        result: Any = await self.session.execute(
            delete(ApiKey).where(
                ApiKey.workspace_id == workspace_id,
                ApiKey.scope == scope,
                ApiKey.provider == provider,
                ApiKey.user_id == user_id,
            )
        )
        return bool(result.rowcount)

    async def all_locked(self) -> list[ApiKey]:
        """Every stored key of every workspace, locked for change until the transaction ends (PostgreSQL)."""
        return list(await self.session.scalars(select(ApiKey).order_by(ApiKey.id).with_for_update()))
