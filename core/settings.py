"""Per-workspace settings: which models answer (with a per-channel override), the channels where
questions may be asked, the daily budget and the per-user rate of questions. Limits are checked
before a question is stored, so a refusal stores nothing and costs nothing."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from core.cost import CostTotal
from core.domain import Merging
from core.errors import BudgetExceededError, ChannelNotAllowedError, InvalidSettingsError, RateLimitedError
from core.mapping import aware
from core.store.repositories import Repository
from core.store.tables import utcnow

MAX_MODELS = 8
WINDOW = timedelta(minutes=1)
MAX_ALLOWED_CHANNELS = 100
# A Slack or Discord channel id. Only ids are stored, so a channel list can be shown as links safely.
CHANNEL_ID = re.compile(r"[A-Za-z0-9]{1,64}")


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
    merging: Merging = Merging.ON_REQUEST  # when questions get a merged answer
    merger: str | None = None  # the workspace's merger; None: the operator's default
    mergers: tuple[str, ...] = ()  # the models a workspace may choose to merge with
    allowed_channels: tuple[str, ...] | None = None  # where questions may be asked; None: everywhere
    confirm_above_usd: float | None = None  # above this estimate the asker confirms first; None: never

    def answers_in(self, channel: str) -> bool:
        return self.allowed_channels is None or channel in self.allowed_channels

    @property
    def effective(self) -> tuple[str, ...]:
        """The models a question asked here goes to."""
        return self.channel_models or self.models or self.available


def _midnight(now: datetime) -> datetime:
    return datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)


@dataclass(frozen=True, slots=True)
class Spending:
    """A workspace's spend since 00:00 UTC against its daily budget."""

    spent: CostTotal
    budget_usd: float | None  # None: no daily budget


class SettingsBook:
    """Reads and changes settings inside the caller's transaction."""

    def __init__(self, available: Sequence[str], defaults: Limits | None = None, mergers: Sequence[str] = ()) -> None:
        self.available = tuple(available)
        self.defaults = defaults or Limits()
        self.mergers = tuple(dict.fromkeys((*available, *mergers)))  # models a workspace may merge with

    def unset(self) -> ModelSettings:
        """The settings of a workspace that has set nothing: the operator's."""
        limits = self.defaults
        return ModelSettings(
            (), None, limits.daily_budget_usd, limits.questions_per_minute, self.available, mergers=self.mergers
        )

    async def read(self, repo: Repository, workspace_id: int, channel: str | None) -> ModelSettings:
        rows = await repo.settings.by_channel(workspace_id, ["", channel] if channel else [""])
        own = rows.get("")
        override = rows.get(channel) if channel else None
        return ModelSettings(
            models=tuple(own.models) if own else (),
            channel_models=tuple(override.models) if override and override.models else None,
            daily_budget_usd=own.daily_budget_usd
            if own and own.daily_budget_usd is not None
            else self.defaults.daily_budget_usd,
            questions_per_minute=own.questions_per_minute
            if own and own.questions_per_minute is not None
            else self.defaults.questions_per_minute,
            available=self.available,
            merging=Merging.of(own.merging if own else None),
            merger=own.merger if own else None,
            mergers=self.mergers,
            allowed_channels=tuple(own.allowed_channels) if own and own.allowed_channels is not None else None,
            confirm_above_usd=own.confirm_above_usd if own else None,
        )

    def check_models(self, models: Sequence[str]) -> list[str]:
        chosen = list(dict.fromkeys(m.strip() for m in models if m.strip()))
        if len(chosen) > MAX_MODELS:
            raise InvalidSettingsError(
                f"At most {MAX_MODELS} models can answer one question; {len(chosen)} were chosen."
            )
        unknown = [m for m in chosen if m not in self.available]
        if unknown:
            raise InvalidSettingsError(
                f"Not a configured model: {', '.join(unknown)}. Choose from: {', '.join(self.available) or 'none'}."
            )
        return chosen

    async def set_models(
        self, repo: Repository, workspace_id: int, models: Sequence[str], channel: str | None
    ) -> ModelSettings:
        chosen = self.check_models(models)
        if channel and not chosen:
            await repo.settings.drop(workspace_id, channel)
        else:
            row = await repo.settings.row(workspace_id, channel or "")
            row.models, row.updated_at = chosen, utcnow()
        await repo.flush()
        return await self.read(repo, workspace_id, channel)

    async def set_allowed_channels(
        self, repo: Repository, workspace_id: int, channels: Sequence[str] | None
    ) -> ModelSettings:
        """None: questions may be asked in every channel again."""
        chosen = None if channels is None else list(dict.fromkeys(c.strip() for c in channels if c.strip()))
        if chosen is not None:
            if not chosen:
                raise InvalidSettingsError(
                    "Choose at least one channel where Consensus answers, or let it answer everywhere."
                )
            if len(chosen) > MAX_ALLOWED_CHANNELS:
                raise InvalidSettingsError(f"At most {MAX_ALLOWED_CHANNELS} channels can be chosen.")
            if not all(CHANNEL_ID.fullmatch(c) for c in chosen):
                raise InvalidSettingsError("That is not a channel of this workspace.")
        row = await repo.settings.row(workspace_id, "")
        row.allowed_channels, row.updated_at = chosen, utcnow()
        await repo.flush()
        return await self.read(repo, workspace_id, None)

    async def set_limits(
        self, repo: Repository, workspace_id: int, daily_budget_usd: float | None, questions_per_minute: int | None
    ) -> ModelSettings:
        """None puts a limit back to the operator's default."""
        if daily_budget_usd is not None and not (math.isfinite(daily_budget_usd) and daily_budget_usd >= 0):
            raise InvalidSettingsError("The daily budget must be a number of US dollars, 0 or more.")
        if questions_per_minute is not None and questions_per_minute < 1:
            raise InvalidSettingsError("The limit of questions per minute must be 1 or more.")
        row = await repo.settings.row(workspace_id, "")
        row.daily_budget_usd, row.questions_per_minute = daily_budget_usd, questions_per_minute
        row.updated_at = utcnow()
        await repo.flush()
        return await self.read(repo, workspace_id, None)

    async def set_confirmation(
        self, repo: Repository, workspace_id: int, confirm_above_usd: float | None
    ) -> ModelSettings:
        """Above `confirm_above_usd` (estimated) the asker confirms a question first; None: never asks."""
        if confirm_above_usd is not None and not (math.isfinite(confirm_above_usd) and confirm_above_usd >= 0):
            raise InvalidSettingsError("The confirmation threshold must be a number of US dollars, 0 or more.")
        row = await repo.settings.row(workspace_id, "")
        row.confirm_above_usd, row.updated_at = confirm_above_usd, utcnow()
        await repo.flush()
        return await self.read(repo, workspace_id, None)

    async def set_merging(
        self, repo: Repository, workspace_id: int, merging: Merging, merger: str | None
    ) -> ModelSettings:
        """When questions get a merged answer, and which model writes it (None: the operator's default)."""
        merger = (merger or "").strip() or None
        if merger is not None and merger not in self.mergers:
            raise InvalidSettingsError(
                f"Not a configured model: {merger}. Choose from: {', '.join(self.mergers) or 'none'}."
            )
        row = await repo.settings.row(workspace_id, "")
        row.merging, row.merger, row.updated_at = merging.value, merger, utcnow()
        await repo.flush()
        return await self.read(repo, workspace_id, None)

    async def admit_spending(self, repo: Repository, workspace_id: int, settings: ModelSettings) -> None:
        """Refuse a paid call beyond a question (a merge) once the workspace's daily budget is spent."""
        if settings.daily_budget_usd is not None:
            await repo.settings.serialise_admissions(workspace_id)
            await self._check_budget(repo, workspace_id, settings.daily_budget_usd, utcnow())

    @staticmethod
    async def serialise(repo: Repository, workspace_id: int, settings: ModelSettings) -> None:
        """Where limits apply, one question is admitted at a time per workspace. Taken first in the
        transaction: a row written before that refers to the workspace would hold a lock that makes two
        admissions wait for each other on PostgreSQL."""
        if settings.daily_budget_usd is not None or settings.questions_per_minute is not None:
            await repo.settings.serialise_admissions(workspace_id)

    async def admit(
        self, repo: Repository, workspace_id: int, user: str, channel: str, settings: ModelSettings
    ) -> None:
        """Refuse a question outside the allowed channels, over the user's rate or the workspace's budget
        (before anything is stored; after `serialise`); `settings` are the workspace's, as `read` gives them."""
        if not settings.answers_in(channel):
            assert settings.allowed_channels is not None
            raise ChannelNotAllowedError(settings.allowed_channels)
        budget, rate = settings.daily_budget_usd, settings.questions_per_minute
        if budget is None and rate is None:
            return
        now = utcnow()
        if rate is not None:
            await self._check_rate(repo, workspace_id, user, rate, now)
        if budget is not None:
            await self._check_budget(repo, workspace_id, budget, now)

    @staticmethod
    async def _check_rate(repo: Repository, workspace_id: int, user: str, rate: int, now: datetime) -> None:
        times = await repo.settings.question_times(workspace_id, user, now - WINDOW, rate)
        if len(times) < rate:
            return
        oldest = aware(times[-1])
        assert oldest is not None
        wait = max(1, math.ceil((oldest + WINDOW - now).total_seconds()))
        raise RateLimitedError(
            f"You have asked {len(times)} questions in the last minute; the limit is {rate}. Try again in {wait} s.",
            retry_after=float(wait),
        )

    @staticmethod
    async def spent_today(repo: Repository, workspace_id: int, now: datetime) -> CostTotal:
        """What the workspace's answers cost since 00:00 UTC: what its daily budget is held to."""
        return await repo.settings.spent_since(workspace_id, _midnight(now))

    async def _check_budget(self, repo: Repository, workspace_id: int, budget: float, now: datetime) -> None:
        midnight = _midnight(now)
        spent = (await self.spent_today(repo, workspace_id, now)).known_usd
        if spent >= budget:
            resume = midnight + timedelta(days=1)
            raise BudgetExceededError(
                f"This workspace has spent ${spent:,.2f} of its ${budget:,.2f} daily budget; "
                "questions resume at 00:00 UTC.",
                retry_after=(resume - now).total_seconds(),
            )
