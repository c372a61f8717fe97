"""`/consensus-leaderboard [days] [this_channel]`: per model, how often the team selected its answers,
as bars in a private embed. What the rows say is the presenter's; this module only draws the embed."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from adapters.discord.actors import settings_channel, workspace_of
from adapters.discord.embeds import BLURPLE, neutralise
from adapters.discord.replies import ANSWERED, guard
from adapters.presenter import leaderboard as shown
from adapters.presenter.channels import channel_link
from core.leaderboard import DEFAULT_DAYS, MAX_DAYS, Leaderboard
from core.service import ConsensusService

MAX_ROWS = 20  # an embed holds 25 fields; the rest would not be read anyway


def _code(text: str) -> str:
    return f"`{text}`"


def render(board: Leaderboard) -> discord.Embed:
    where = f"in {channel_link(board.channel)}" if board.channel else "in this server"
    embed = discord.Embed(title="Consensus leaderboard", description=shown.heading(board, where), colour=BLURPLE)
    if not board.standings:
        embed.description = f"{embed.description}\n\n{shown.empty_text(board)}"
    for row in shown.rows(board, neutralise)[:MAX_ROWS]:
        embed.add_field(name=row.model[:256], value=f"{_code(row.bar)} {row.share}\n{row.facts}", inline=False)
    embed.set_footer(text="Share selected, with its 95% interval. Best supported share first.")
    return embed


class LeaderboardCommand:
    def __init__(self, service: ConsensusService) -> None:
        self.service = service

    def register(self, tree: app_commands.CommandTree[Any]) -> None:
        @tree.command(name="consensus-leaderboard", description="Which models' answers this server selects")
        @app_commands.describe(days=f"Over the last N days (default {DEFAULT_DAYS})", this_channel="Only this channel")
        async def leaderboard(
            interaction: discord.Interaction[Any],
            days: app_commands.Range[int, 1, MAX_DAYS] = DEFAULT_DAYS,
            this_channel: bool = False,
        ) -> None:
            await self.show(interaction, days, this_channel)

    async def show(self, interaction: discord.Interaction[Any], days: int, this_channel: bool) -> None:
        async with guard(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            ws = workspace_of(interaction.guild_id, interaction.user.id)
            channel = settings_channel(interaction) if this_channel else None
            board = await self.service.leaderboard(ws, channel=channel, days=days)
            await interaction.edit_original_response(embed=render(board))
            interaction.extras[ANSWERED] = True
