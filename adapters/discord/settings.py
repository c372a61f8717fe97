"""`/consensus-settings show|models|channels|limits|merging`: which models answer here, the channels
where the bot answers, the daily budget, the rate, and when answers are merged into one (and by
which model).

Only members with Manage Server may change settings (the command is hidden from others by default,
and the core refuses anyone else). `models` shows a private message with a select of the models the
operator configured; the select is a DynamicItem (`consensus-models:server` or
`consensus-models:<channel id>`), so it works on any replica and after a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol

import discord
from discord import app_commands

from adapters.discord.actors import actor_of, settings_channel
from adapters.discord.embeds import BLURPLE
from adapters.discord.replies import ANSWERED, guard
from adapters.presenter.card import MERGING_WORDS
from adapters.presenter.channels import channel_link
from adapters.presenter.cost import spending_line, threshold_words
from core.domain import Merging
from core.errors import InvalidSettingsError, PermissionDeniedError
from core.service import ConsensusService
from core.settings import MAX_MODELS, ModelSettings, Spending

Where = Literal["server", "channel"]
When = Literal["off", "request", "auto"]  # core.domain.Merging's values
DEFAULT_MERGER = "default"  # typed as the merger: back to the operator's default
ChannelChange = Literal["add", "remove", "everywhere"]
SELECT_TEMPLATE = r"consensus-models:(?P<where>server|\d{1,20})"
MAX_OPTIONS = 25  # Discord's limit for one select
MANAGERS_ONLY = "Only members with Manage Server can change this server's settings."


class ModelsHandler(Protocol):
    async def on_models_chosen(self, interaction: discord.Interaction[Any], where: str) -> None: ...


def _models(models: tuple[str, ...] | None, otherwise: str) -> str:
    return ", ".join(f"`{m}`" for m in models) if models else otherwise


def render(settings: ModelSettings, channel: str | None, spending: Spending | None = None) -> discord.Embed:
    """The settings in force for the server and (given) one channel; with `spending`, today's spend."""
    embed = discord.Embed(title="Consensus settings", colour=BLURPLE)
    everyone = f"all the operator's models ({len(settings.available)})"
    embed.add_field(name="Server's models", value=_models(settings.models, everyone), inline=False)
    if channel is not None:
        embed.add_field(
            name=f"Models in <#{channel}>", value=_models(settings.channel_models, "the server's"), inline=False
        )
        embed.add_field(name="Asked here", value=_models(settings.effective, "none"), inline=False)
    allowed = settings.allowed_channels
    embed.add_field(
        name="Answers in",
        value=", ".join(channel_link(c) for c in allowed) if allowed else "every channel",
        inline=False,
    )
    budget = settings.daily_budget_usd
    rate = settings.questions_per_minute
    embed.add_field(name="Daily budget", value="no limit" if budget is None else f"${budget:,.2f} per day (UTC)")
    embed.add_field(name="Questions per minute", value="no limit" if rate is None else f"{rate} per person")
    embed.add_field(name="Confirm before asking", value=threshold_words(settings.confirm_above_usd))
    if spending is not None:
        embed.add_field(name="Spent today", value=spending_line(spending), inline=False)
    merger = f"; written by `{settings.merger}`" if settings.merger else ""
    embed.add_field(name="Merged answer", value=MERGING_WORDS[settings.merging] + merger, inline=False)
    embed.set_footer(text=f"At most {MAX_MODELS} models answer one question.")
    return embed


class ModelsSelect(discord.ui.DynamicItem[discord.ui.Select[Any]], template=SELECT_TEMPLATE):
    """Pick the models for the server (`server`) or one channel (its id); none picked: the default."""

    def __init__(self, where: str, settings: ModelSettings | None = None) -> None:
        chosen: tuple[str, ...] = ()
        if settings is not None:
            chosen = settings.models if where == "server" else settings.channel_models or ()
        available = settings.available[:MAX_OPTIONS] if settings is not None else ()
        options = [discord.SelectOption(label=m[:100], value=m[:100], default=m in chosen) for m in available]
        fallback = "all the operator's models" if where == "server" else "the server's models"
        select: discord.ui.Select[Any] = discord.ui.Select(
            custom_id=f"consensus-models:{where}",
            min_values=0,
            max_values=max(1, min(MAX_MODELS, len(options))),
            options=options,
            placeholder=f"Choose up to {MAX_MODELS} (none: {fallback})",
        )
        super().__init__(select)
        self.where = where

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: Any
    ) -> ModelsSelect:
        return cls(match["where"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handler: ModelsHandler = interaction.client
        await handler.on_models_chosen(interaction, self.where)


def models_view(where: str, settings: ModelSettings) -> discord.ui.View:
    """A stopped view (nothing kept in the process): the DynamicItem handles the choice."""
    view = discord.ui.View(timeout=None)
    if settings.available:
        view.add_item(ModelsSelect(where, settings))
    view.stop()
    return view


class SettingsCommands:
    def __init__(self, service: ConsensusService) -> None:
        self.service = service

    def register(self, tree: app_commands.CommandTree[Any]) -> None:
        group = app_commands.Group(
            name="consensus-settings",
            description="Which models answer, budget, rate",
            guild_only=True,
            default_permissions=discord.Permissions(manage_guild=True),
        )

        @group.command(name="show", description="The settings in force in this channel")
        async def show(interaction: discord.Interaction[Any]) -> None:
            await self.show(interaction)

        @group.command(name="models", description="Choose which models answer (server-wide or this channel)")
        @app_commands.describe(where="The whole server, or only this channel")
        async def models(interaction: discord.Interaction[Any], where: Where = "server") -> None:
            await self.models(interaction, where)

        @group.command(name="channels", description="Where /consensus answers: add or remove this channel")
        @app_commands.describe(change="Add this channel, remove it, or answer in every channel again")
        async def channels(interaction: discord.Interaction[Any], change: ChannelChange) -> None:
            await self.channels(interaction, change)

        @group.command(
            name="limits", description="Daily budget, questions per minute, confirmation threshold (omitted: unchanged)"
        )
        @app_commands.describe(
            daily_budget_usd="US dollars per day for the whole server",
            questions_per_minute="Questions per person per minute",
            confirm_above_usd="Above this estimate (US dollars) the asker confirms a question first",
            reset="Put the limits back to the operator's defaults, and never ask to confirm",
        )
        async def limits(
            interaction: discord.Interaction[Any],
            daily_budget_usd: app_commands.Range[float, 0, 1_000_000] | None = None,
            questions_per_minute: app_commands.Range[int, 1, 10_000] | None = None,
            confirm_above_usd: app_commands.Range[float, 0, 1_000_000] | None = None,
            reset: bool = False,
        ) -> None:
            await self.limits(interaction, daily_budget_usd, questions_per_minute, reset, confirm_above_usd)

        @group.command(name="merging", description="When answers are merged into one, and which model merges")
        @app_commands.describe(
            when="off, request (the Merge button) or auto (after every question)",
            merger=f"provider/model that writes the merge; '{DEFAULT_MERGER}': the operator's (omitted: unchanged)",
        )
        async def merging(interaction: discord.Interaction[Any], when: When, merger: str | None = None) -> None:
            await self.merging(interaction, when, merger)

        tree.add_command(group)

    async def _reply(
        self, interaction: discord.Interaction[Any], embed: discord.Embed, view: discord.ui.View | None = None
    ) -> None:
        if view is None:
            await interaction.edit_original_response(embed=embed)
        else:
            await interaction.edit_original_response(embed=embed, view=view)
        interaction.extras[ANSWERED] = True

    async def show(self, interaction: discord.Interaction[Any]) -> None:
        async with guard(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            actor, channel = actor_of(interaction), settings_channel(interaction)
            settings = await self.service.model_settings(actor.workspace, channel)
            await self._reply(interaction, render(settings, channel, await self.service.spending(actor.workspace)))

    async def models(self, interaction: discord.Interaction[Any], where: Where) -> None:
        async with guard(interaction):
            actor, channel = actor_of(interaction), settings_channel(interaction)
            if not actor.is_admin:
                raise PermissionDeniedError(MANAGERS_ONLY)  # no use offering the select (the core checks too)
            await interaction.response.defer(ephemeral=True, thinking=True)
            settings = await self.service.model_settings(actor.workspace, channel)
            key = "server" if where == "server" else channel
            await self._reply(interaction, render(settings, channel), models_view(key, settings))

    async def chosen(self, interaction: discord.Interaction[Any], where: str) -> None:
        async with guard(interaction):
            await interaction.response.defer()
            data: Mapping[str, Any] = interaction.data or {}
            values = [str(v) for v in data.get("values", [])]
            actor = actor_of(interaction)
            channel = None if where == "server" else where
            await self.service.set_models(actor, values, channel)
            here = settings_channel(interaction)
            shown = await self.service.model_settings(actor.workspace, here)
            await self._reply(interaction, render(shown, here), models_view(where, shown))

    async def channels(self, interaction: discord.Interaction[Any], change: ChannelChange) -> None:
        async with guard(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            actor, channel = actor_of(interaction), settings_channel(interaction)
            now = (await self.service.model_settings(actor.workspace)).allowed_channels
            chosen: list[str] | None = None
            if change == "add":
                chosen = [*(now or ()), channel]
            elif change == "remove":
                if now is None:
                    raise InvalidSettingsError(
                        "Consensus answers in every channel. Add the channels where it may answer first."
                    )
                chosen = [c for c in now if c != channel]
            await self.service.set_allowed_channels(actor, chosen)
            await self._reply(interaction, render(await self.service.model_settings(actor.workspace, channel), channel))

    async def limits(
        self,
        interaction: discord.Interaction[Any],
        daily_budget_usd: float | None,
        questions_per_minute: int | None,
        reset: bool,
        confirm_above_usd: float | None = None,
    ) -> None:
        async with guard(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            actor, channel = actor_of(interaction), settings_channel(interaction)
            if not reset:  # an option left out keeps its value
                now = await self.service.model_settings(actor.workspace)
                daily_budget_usd = now.daily_budget_usd if daily_budget_usd is None else daily_budget_usd
                if questions_per_minute is None:
                    questions_per_minute = now.questions_per_minute
                confirm_above_usd = now.confirm_above_usd if confirm_above_usd is None else confirm_above_usd
            await self.service.set_limits(
                actor, daily_budget_usd=daily_budget_usd, questions_per_minute=questions_per_minute
            )
            await self.service.set_confirmation(actor, confirm_above_usd)
            shown = await self.service.model_settings(actor.workspace, channel)
            await self._reply(interaction, render(shown, channel, await self.service.spending(actor.workspace)))

    async def merging(self, interaction: discord.Interaction[Any], when: str, merger: str | None) -> None:
        async with guard(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            actor, channel = actor_of(interaction), settings_channel(interaction)
            if merger is None:  # left out: the merger stays as it is
                merger = (await self.service.model_settings(actor.workspace)).merger
            chosen = None if merger is None or merger.strip() == DEFAULT_MERGER else merger
            await self.service.set_merging(actor, Merging.of(when), chosen)
            await self._reply(interaction, render(await self.service.model_settings(actor.workspace, channel), channel))
