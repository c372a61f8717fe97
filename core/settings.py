"""Per-workspace settings: which models answer (with a per-channel override), the daily budget and
the per-user rate of questions. Limits are checked before a question is stored, so a refusal stores
nothing and costs nothing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from core.errors import BudgetExceededError, InvalidSettingsError, RateLimitedError
from core.mapping import aware
from core.store.repositories import Repository
from core.store.tables import AiResponse, Conversation, Message, ModelSetting, Workspace, utcnow

MAX_MODELS = 8
WINDOW = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Limits:
    """The operator's defaults; a workspace's own values replace them. None: no limit."""

    daily_budget_usd: float | None = None
    questions_per_minute: int | None = None


@dataclass(frozen=True, slots=True)
class ModelSettings:
    models: tuple[str, ...]  # the workspace default; () = the operator's models
    channel_models: tuple[str, ...] | None  # the channel's override, if one is set
    daily_budget_usd: float | None  # in force: the workspace's own value, else the operator's default
    questions_per_minute: int | None
    available: tuple[str, ...]  # the models the operator configured

    @property
    def effective(self) -> tuple[str, ...]:
        """The models a question asked here goes to."""
        return self.channel_models or self.models or self.available


def _insert(repo: Repository) -> Any:
    return (postgresql.insert if repo.dialect == "postgresql" else sqlite.insert)(ModelSetting)


async def _rows(repo: Repository, workspace_id: int, channel: str | None) -> dict[str, ModelSetting]:
    channels = ["", channel] if channel else [""]
    rows = await repo.session.scalars(select(ModelSetting).where(
        ModelSetting.workspace_id == workspace_id, ModelSetting.channel.in_(channels)))
    return {row.channel: row for row in rows}


async def _row(repo: Repository, workspace_id: int, channel: str) -> ModelSetting:
    """The settings row for (workspace, channel), created when missing (safe under concurrency)."""
    await repo.session.execute(_insert(repo).values(
        workspace_id=workspace_id, channel=channel, models=[], updated_at=utcnow()).on_conflict_do_nothing())
    found = await repo.session.scalar(select(ModelSetting).where(
        ModelSetting.workspace_id == workspace_id, ModelSetting.channel == channel))
    assert found is not None
    return found


class SettingsBook:
    """Reads and changes settings inside the caller's transaction."""

    def __init__(self, available: Sequence[str], defaults: Limits | None = None) -> None:
        self.available = tuple(available)
        self.defaults = defaults or Limits()

    async def read(self, repo: Repository, workspace_id: int, channel: str | None) -> ModelSettings:
        rows = await _rows(repo, workspace_id, channel)
        own = rows.get("")
        override = rows.get(channel) if channel else None
        return ModelSettings(
            models=tuple(own.models) if own else (),
            channel_models=tuple(override.models) if override and override.models else None,
            daily_budget_usd=own.daily_budget_usd if own and own.daily_budget_usd is not None
            else self.defaults.daily_budget_usd,
            questions_per_minute=own.questions_per_minute if own and own.questions_per_minute is not None
            else self.defaults.questions_per_minute,
            available=self.available,
        )

    def check_models(self, models: Sequence[str]) -> list[str]:
        chosen = list(dict.fromkeys(m.strip() for m in models if m.strip()))
        if len(chosen) > MAX_MODELS:
            raise InvalidSettingsError(f"At most {MAX_MODELS} models can answer one question; "
                                       f"{len(chosen)} were chosen.")
        unknown = [m for m in chosen if m not in self.available]
        if unknown:
            raise InvalidSettingsError(f"Not a configured model: {', '.join(unknown)}. "
                                       f"Choose from: {', '.join(self.available) or 'none'}.")
        return chosen

    async def set_models(self, repo: Repository, workspace_id: int, models: Sequence[str],
                         channel: str | None) -> ModelSettings:
        chosen = self.check_models(models)
        if channel and not chosen:
            await repo.session.execute(delete(ModelSetting).where(
                ModelSetting.workspace_id == workspace_id, ModelSetting.channel == channel))
        else:
            row = await _row(repo, workspace_id, channel or "")
            row.models, row.updated_at = chosen, utcnow()
        await repo.session.flush()
        return await self.read(repo, workspace_id, channel)

    async def set_limits(self, repo: Repository, workspace_id: int, daily_budget_usd: float | None,
                         questions_per_minute: int | None) -> ModelSettings:
        """None puts a limit back to the operator's default."""
        if daily_budget_usd is not None and not (math.isfinite(daily_budget_usd) and daily_budget_usd >= 0):
            raise InvalidSettingsError("The daily budget must be a number of US dollars, 0 or more.")
        if questions_per_minute is not None and questions_per_minute < 1:
            raise InvalidSettingsError("The limit of questions per minute must be 1 or more.")
        row = await _row(repo, workspace_id, "")
        row.daily_budget_usd, row.questions_per_minute = daily_budget_usd, questions_per_minute
        row.updated_at = utcnow()
        await repo.session.flush()
        return await self.read(repo, workspace_id, None)

    async def admit(self, repo: Repository, workspace_id: int, user: str, settings: ModelSettings) -> None:
        """Refuse a question over the user's rate or the workspace's budget (before anything is stored);
        `settings` are the workspace's, as `read` gives them."""
        budget, rate = settings.daily_budget_usd, settings.questions_per_minute
        if budget is None and rate is None:
            return
        if repo.dialect == "postgresql":  # one admission at a time per workspace, so limits hold exactly
            await repo.session.execute(select(Workspace.id).where(Workspace.id == workspace_id).with_for_update())
        now = utcnow()
        if rate is not None:
            await self._check_rate(repo, workspace_id, user, rate, now)
        if budget is not None:
            await self._check_budget(repo, workspace_id, budget, now)

    @staticmethod
    async def _check_rate(repo: Repository, workspace_id: int, user: str, rate: int, now: datetime) -> None:
        times = list(await repo.session.scalars(
            select(Message.created_at).join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.workspace_id == workspace_id, Message.author == user,
                   Message.created_at > now - WINDOW)
            .order_by(Message.created_at.desc()).limit(rate)))
        if len(times) < rate:
            return
        oldest = aware(times[-1])
        assert oldest is not None
        wait = max(1, math.ceil((oldest + WINDOW - now).total_seconds()))
        raise RateLimitedError(f"You have asked {len(times)} questions in the last minute; the limit is {rate}. "
                               f"Try again in {wait} s.", retry_after=float(wait))

    @staticmethod
    async def _check_budget(repo: Repository, workspace_id: int, budget: float, now: datetime) -> None:
        midnight = datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)
        spent = await repo.session.scalar(
            select(func.coalesce(func.sum(AiResponse.cost_usd), 0.0))
            .join(Conversation, Conversation.id == AiResponse.conversation_id)
            .where(Conversation.workspace_id == workspace_id, AiResponse.created_at >= midnight))
        spent = float(spent or 0.0)
        if spent >= budget:
            resume = midnight + timedelta(days=1)
            raise BudgetExceededError(
                f"This workspace has spent ${spent:,.2f} of its ${budget:,.2f} daily budget; "
                "questions resume at 00:00 UTC.", retry_after=(resume - now).total_seconds())
