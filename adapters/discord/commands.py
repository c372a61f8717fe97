"""Handlers: translate the Discord event, call the core, render. No rules of our own here.

`/consensus question:<text>` stores the question (its models start) while it defers, then posts the
question, opens a thread from it (or uses the thread it was run in, continuing that conversation),
and posts one card per model. Buttons and
plain replies in a conversation's thread come here too.
"""

from __future__ import annotations

from collections.abc import Awaitable
from functools import partial
from typing import Any, TypeVar

import discord
from discord import app_commands

from adapters.discord import embeds
from adapters.discord.actors import display_names, workspace_of
from adapters.discord.cards import NO_PINGS, Board, Sendable, files_of
from adapters.discord.confirm import Asking
from adapters.discord.replies import ANSWERED, defer_publicly, guard
from adapters.discord.views import confirm_view, offer_view, question_view
from adapters.presenter import actions, card, export
from adapters.presenter.live import LiveBatch
from core.cost import Estimate
from core.domain import Actor, Batch, MessageRef, Question, WorkspaceRef
from core.errors import ConsensusError
from core.service import ConsensusService, clean_question

USAGE = "Usage: `/consensus question:<your question>` — ask every configured model at once."
RESTARTING = "The bot is restarting; ask again in a minute."
HISTORY_LIMIT = 10
THREAD_PARENTS = (discord.ChannelType.text, discord.ChannelType.news)
Asked = TypeVar("Asked")


class Handlers:
    def __init__(self, service: ConsensusService, board: Board) -> None:
        self.service, self.board = service, board
        self.asking = Asking(service)
        self.accepting = True  # False while shutting down: running questions finish, new ones wait

    def _check_open(self) -> None:
        if not self.accepting:
            raise ConsensusError(RESTARTING)

    def register(self, tree: app_commands.CommandTree[Any]) -> None:
        @tree.command(name="consensus", description="Ask several AI models at once, in a thread")
        @app_commands.describe(question="Your question (up to 8,000 characters)")
        async def consensus(interaction: discord.Interaction[Any], question: str) -> None:
            await self.consensus(interaction, question)

        @tree.command(name="consensus-history", description="Find earlier conversations of this server")
        @app_commands.describe(query="Words to search for (leave empty for the most recent)")
        async def history(interaction: discord.Interaction[Any], query: str | None = None) -> None:
            await self.history(interaction, query)

    # ---- /consensus -------------------------------------------------------------------------
    async def consensus(self, interaction: discord.Interaction[Any], question: str) -> None:
        async with guard(interaction):
            self._check_open()
            if not question.strip():
                await interaction.response.send_message(USAGE, ephemeral=True)
                return
            clean_question(question)  # the core's own check, before anything is public
            ws = workspace_of(interaction.guild_id, interaction.user.id)
            asked = await self._stored_then_deferred(interaction, self._estimate_then_ask(interaction, ws, question))
            if isinstance(asked, Estimate):
                await self.asking.hold(interaction, question, asked)  # above the threshold: Ask / Cancel
                return
            await self._show(interaction, asked, question)

    async def confirmed(self, interaction: discord.Interaction[Any], ask: bool, nonce: str) -> None:
        """Ask or Cancel on the private estimate of a question above the threshold."""
        async with guard(interaction):
            text = await self.asking.settle(interaction, ask, nonce)
            if text is not None:
                self._check_open()
                ws = workspace_of(interaction.guild_id, interaction.user.id)
                batch = await self._stored_then_deferred(interaction, self._ask(interaction, ws, text, confirmed=True))
                await self._show(interaction, batch, text)

    @staticmethod
    async def _stored_then_deferred(interaction: discord.Interaction[Any], work: Awaitable[Asked]) -> Asked:
        """`work` (the store's reads and the question, which starts the models), then the public
        deferral: a question Discord was told about is in the store whatever moment the process dies,
        and the models never wait for Discord. The store takes milliseconds of Discord's 3 s; a
        refusal is answered privately, with nothing shown in the channel."""
        asked = await work
        await defer_publicly(interaction)
        return asked

    async def _estimate_then_ask(
        self, interaction: discord.Interaction[Any], ws: WorkspaceRef, text: str
    ) -> Batch | Estimate:
        """The stored question, or its estimate when it must wait for its asker's Ask."""
        estimate = await self.asking.estimate(interaction, ws, text)
        if estimate is not None and estimate.needs_confirmation:
            return estimate
        return await self._ask(interaction, ws, text, estimate=estimate)

    async def _ask(
        self,
        interaction: discord.Interaction[Any],
        ws: WorkspaceRef,
        text: str,
        *,
        confirmed: bool = False,
        estimate: Estimate | None = None,
    ) -> Batch:
        """Store the question (a follow-up when run in a conversation's thread); its models start.
        `estimate`: the one just made for it, so that it is not made again."""
        channel, user, delivery = interaction.channel, str(interaction.user.id), str(interaction.id)
        if isinstance(channel, discord.Thread):
            parent, tid = str(channel.parent_id), str(channel.id)
            question = Question(ws, parent, user, text, thread=tid, delivery=delivery, confirmed=confirmed)
            conversation = await self.service.find_conversation(ws, parent, tid)
            if conversation is None:
                return await self.service.ask(question, estimate)
            return await self.service.follow_up(conversation, question, estimate)
        channel_id = str(channel.id if channel is not None else interaction.channel_id)
        question = Question(ws, channel_id, user, text, delivery=delivery, confirmed=confirmed)
        return await self.service.ask(question, estimate)

    async def _show(self, interaction: discord.Interaction[Any], batch: Batch, text: str) -> None:
        """The question on the deferred reply, a thread from it (or the thread it was asked in), the cards."""
        live = self.board.live.track(batch)
        channel = interaction.channel
        root = await self._show_question(interaction, live)
        if isinstance(channel, discord.Thread):
            await self.board.post_cards(live, channel)
            return
        target: Sendable | discord.abc.Messageable = _FollowupTarget(interaction)
        new_thread: str | None = None
        if isinstance(channel, discord.abc.Messageable):
            target = channel  # a DM, or where no thread can start: answer in place
        if root.guild is not None and getattr(channel, "type", None) in THREAD_PARENTS:
            try:
                thread = await root.create_thread(name=embeds.thread_name(text), auto_archive_duration=1440)
            except discord.HTTPException:
                pass  # no permission to start threads here: answer in place
            else:
                target, new_thread = thread, str(thread.id)
                live.thread = new_thread
        await self.board.post_cards(live, target, new_thread=new_thread)

    async def _show_question(self, interaction: discord.Interaction[Any], live: LiveBatch) -> discord.Message:
        rendered = embeds.question_message(live.batch)
        root = await interaction.edit_original_response(
            content=rendered.content,
            embeds=rendered.embeds,
            attachments=files_of(rendered),
            view=question_view(live.batch),
        )
        interaction.extras[ANSWERED] = True
        self.board.question_posted(live, root)
        await self.board.live.question_shown(live)  # stored at once: a process adopting it never posts it again
        return root

    # ---- /consensus-history -----------------------------------------------------------------
    async def history(self, interaction: discord.Interaction[Any], query: str | None) -> None:
        async with guard(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            ws = workspace_of(interaction.guild_id, interaction.user.id)
            items = await self.service.history(ws, query, limit=HISTORY_LIMIT)
            rendered = embeds.history(items, str(interaction.guild_id) if interaction.guild_id else None, query)
            await interaction.edit_original_response(content=rendered.content, embeds=rendered.embeds)
            interaction.extras[ANSWERED] = True

    # ---- buttons ----------------------------------------------------------------------------
    async def click(self, interaction: discord.Interaction[Any], click: actions.Click) -> None:
        async with guard(interaction):
            if click.needs_confirmation:  # an ephemeral question first; its button carries the `:yes` id
                confirm = actions.CONFIRMS[click.verb]
                await interaction.response.send_message(
                    f"**{confirm.title}** {confirm.text}", view=confirm_view(click), ephemeral=True
                )
                return
            await interaction.response.defer()
            ws = workspace_of(interaction.guild_id, interaction.user.id)
            if click.verb is actions.Verb.EXPORT:  # reads the conversation: anyone in this server may
                names = partial(display_names, interaction)
                found = await export.decision_record(self.service, click.target_id, ws, names)
                await self.board.send_record(found, exported_by=interaction.user)
                return
            perms = interaction.permissions
            actor = Actor(ws, str(interaction.user.id), is_admin=bool(perms and perms.manage_messages))
            if click.on_question:  # Merge, Stop: the question's message carries the batch's id
                live = await self.board.live.live(click.target_id, ws)
            else:
                answer = await self.service.get_answer(click.target_id, ws)
                live = await self.board.live.live(answer.batch_id, ws)
                if click.target_id not in live.cards and interaction.message is not None and not click.confirmed:
                    live.cards[click.target_id] = _ref(interaction.message)  # the clicked card itself
            change = await actions.perform(self.service, click, actor)
            await self.board.live.apply(live, change)
            offered = card.offer_after(click.verb, change)
            if offered is not None and isinstance(change, Batch):  # only the clicker sees it
                await interaction.followup.send(
                    embeds.neutralise(offered.text),
                    view=offer_view(offered, change.id),
                    ephemeral=True,
                    allowed_mentions=NO_PINGS,
                )
            if click.confirmed:  # the confirmation has done its work
                await interaction.edit_original_response(
                    content=f"Done: {actions.CONFIRMS[click.verb].button}.", view=None
                )

    # ---- plain replies in a conversation's thread (needs the message-content intent) ----------
    async def message(self, message: discord.Message) -> None:
        thread = message.channel
        if message.author.bot or not isinstance(thread, discord.Thread) or not message.content.strip():
            return
        ws = workspace_of(message.guild.id if message.guild else None, message.author.id)
        parent, tid = str(thread.parent_id), str(thread.id)
        conversation = await self.service.find_conversation(ws, parent, tid)
        if conversation is None or not await self.service.claim_event(ws, f"message:{message.id}"):
            return
        async with guard(message):
            self._check_open()
            question = Question(ws, parent, str(message.author.id), message.content, thread=tid)
            live = self.board.live.track(await self.service.follow_up(conversation, question), follow_up=True)
            rendered = embeds.question_message(live.batch)
            root = await message.reply(
                content=rendered.content, embeds=rendered.embeds, files=files_of(rendered), mention_author=False
            )
            self.board.question_posted(live, root)
            await self.board.post_cards(live, thread)


def _ref(message: discord.Message) -> MessageRef:
    return MessageRef(str(message.channel.id), str(message.id))


class _FollowupTarget:
    """Where no channel can be written to with the bot token (e.g. a user-installed DM context)."""

    def __init__(self, interaction: discord.Interaction[Any]) -> None:
        self.interaction = interaction

    async def send(self, **kwargs: Any) -> discord.Message:
        return await self.interaction.followup.send(wait=True, **kwargs)
