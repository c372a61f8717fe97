"""The one place where an error becomes a reply the user sees.

Core errors carry a short, safe message; anything else is logged and answered generically.
Replies to interactions are ephemeral. A public "thinking…" reply that has shown nothing yet (a
refused question: rate limit, budget) is deleted and the error sent privately instead, so only the
asker sees it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import discord

from adapters.presenter.channels import where_allowed
from core.errors import ChannelNotAllowedError, ConsensusError, DuplicateDeliveryError

log = logging.getLogger(__name__)
ANSWERED = "consensus_answered"  # interaction.extras key: the deferred reply already shows content
PUBLIC = "consensus_public"  # interaction.extras key: deferred publicly (everyone sees "thinking…")
ALREADY_ACKNOWLEDGED = 40060  # Discord's code for a second answer to one interaction


async def defer_publicly(interaction: discord.Interaction[Any]) -> None:
    interaction.extras[PUBLIC] = True
    await interaction.response.defer(thinking=True)


def user_text(exc: BaseException) -> str:
    if isinstance(exc, ChannelNotAllowedError):
        return where_allowed(exc.channels)
    if isinstance(exc, ConsensusError):
        log.info("discord: %s: %s", type(exc).__name__, exc)
        return str(exc)
    if isinstance(exc, discord.Forbidden):
        log.warning("discord: missing permission: %s", exc)
        return "I lack a permission here (send messages, create threads, embed links, or attach files)."
    log.error("discord: unexpected error", exc_info=exc)
    return "Something went wrong on our side; it has been logged."


def repeated(exc: BaseException) -> bool:
    """A second delivery of a request that was answered: the store knew its id, or Discord refused
    to let it be acknowledged again. The first delivery answers; the repeat says nothing."""
    if isinstance(exc, discord.HTTPException) and exc.code == ALREADY_ACKNOWLEDGED:
        return True
    return isinstance(exc, DuplicateDeliveryError)


async def forget_repeat(target: discord.Interaction[Any] | discord.Message) -> None:
    log.info("discord: a request was delivered again; it was acted on once")
    if not isinstance(target, discord.Interaction) or target.extras.get(ANSWERED):
        return
    if target.type is not discord.InteractionType.application_command:
        return  # a repeated click: its message is the original, and stays
    try:  # acknowledged, so Discord shows no failure for it, then removed: nothing will ever fill it
        if not target.response.is_done():
            await target.response.defer(thinking=True)
        await target.delete_original_response()
    except discord.HTTPException:
        log.info("discord: could not remove the reply of a repeated request", exc_info=True)


async def report_error(target: discord.Interaction[Any] | discord.Message, exc: BaseException) -> None:
    text = f"⚠️ {user_text(exc)}"
    try:
        if isinstance(target, discord.Message):
            await target.reply(text, mention_author=False)
            return
        response = target.response
        if not response.is_done():
            await response.send_message(text, ephemeral=True)
        elif response.type == discord.InteractionResponseType.deferred_channel_message and not target.extras.get(
            ANSWERED
        ):
            if target.extras.get(PUBLIC):  # nothing to show the channel: tell the person privately
                await target.delete_original_response()
                await target.followup.send(text, ephemeral=True)
            else:
                await target.edit_original_response(content=text, embeds=[], attachments=[])
        else:
            await target.followup.send(text, ephemeral=True)
    except discord.HTTPException:
        log.warning("discord: could not tell the user about %s", type(exc).__name__, exc_info=True)


@asynccontextmanager
async def guard(target: discord.Interaction[Any] | discord.Message) -> AsyncIterator[None]:
    """Run a handler; whatever escapes it is reported to the user once."""
    try:
        yield
    except Exception as exc:
        if repeated(exc):
            await forget_repeat(target)
        else:
            await report_error(target, exc)
