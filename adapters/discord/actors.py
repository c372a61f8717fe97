"""Who is acting, in the core's terms: a guild is a workspace, and Manage Server makes an admin."""

from __future__ import annotations

from typing import Any

import discord

from core.domain import Actor, Platform, WorkspaceRef


def workspace_of(guild_id: int | None, user_id: int) -> WorkspaceRef:
    """A guild is a workspace; a DM is a workspace of its own person."""
    return WorkspaceRef(Platform.DISCORD, str(guild_id) if guild_id else f"dm-{user_id}")


def manages_server(interaction: discord.Interaction[Any]) -> bool:
    """Manage Server or Administrator in this guild; in a DM the person owns their own workspace."""
    if interaction.guild_id is None:
        return True
    perms = interaction.permissions
    return bool(perms.manage_guild or perms.administrator)


def actor_of(interaction: discord.Interaction[Any]) -> Actor:
    """The person behind a keys or settings command; `is_admin` means Manage Server."""
    ws = workspace_of(interaction.guild_id, interaction.user.id)
    return Actor(ws, str(interaction.user.id), is_admin=manages_server(interaction))


async def display_names(interaction: discord.Interaction[Any], users: set[str]) -> dict[str, str]:
    """The names this server shows for `users` (nickname, else global name, else user name); an id
    Discord does not know here stays an id. In a DM only the person themselves is known."""
    names = {str(interaction.user.id): interaction.user.display_name}
    guild = interaction.guild
    for user in users - names.keys():
        if guild is None or not user.isdigit():
            continue
        member = guild.get_member(int(user))
        if member is None:
            try:
                member = await guild.fetch_member(int(user))
            except discord.HTTPException:  # left the server, or never was in it
                continue
        names[user] = member.display_name
    return names


def settings_channel(interaction: discord.Interaction[Any]) -> str:
    """The channel whose settings apply here: a thread's parent (questions are filed under it)."""
    channel = interaction.channel
    if isinstance(channel, discord.Thread) and channel.parent_id:
        return str(channel.parent_id)
    return str(interaction.channel_id)
