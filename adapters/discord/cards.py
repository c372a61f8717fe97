"""The Discord surface of the live batches: each card's latest look, sent through the channel's
pacer with the bot token (not the 15-minute interaction token). What a card says and when it
changes is the presenter's.

Each card is sent with a nonce made from its answer id (discord.py sends it with `enforce_nonce`):
sent again by a process that adopted the batch, Discord returns the message already created instead
of a second one. A question whose reply to the interaction was never stored is found by the
interaction's id among the channel's latest messages (a reply still "thinking" is replaced). A thread
that already exists for a question's message (error 160004) is reused: a message's thread has the
message's id.
"""

from __future__ import annotations

import io
import time
from typing import Any, Protocol

import discord

from adapters.discord import embeds
from adapters.discord.pacing import ChannelPacer
from adapters.discord.views import card_view, question_view
from adapters.presenter import card
from adapters.presenter.export import RecordFile
from adapters.presenter.live import LiveBatch, LiveBatches, Pacing
from core.domain import MessageRef
from core.service import ConsensusService

# A thread is one rate-limit bucket: streamed text refreshes a card at most once a second
PACING = Pacing(preview_every=1.0)
NO_PINGS = discord.AllowedMentions.none()  # edits do not inherit the client-wide default
THREAD_EXISTS = 160004  # "A thread has already been created for this message"
SEARCHED = 50  # latest messages of a channel searched for the reply to an adopted question's interaction


def card_nonce(answer_id: int) -> str:
    return f"consensus-a{answer_id}"  # at most 25 characters, as Discord allows


def question_nonce(batch_id: int) -> str:
    return f"consensus-q{batch_id}"


class Sendable(Protocol):
    async def send(self, **kwargs: Any) -> Any: ...


def card_links(live: LiveBatch) -> dict[int, str]:
    """Jump URLs of the cards, for the ranking on the question's message."""
    guild = live.batch.workspace.external_id
    guild_id = None if guild.startswith("dm-") else guild
    return {answer_id: embeds.message_url(guild_id, ref) for answer_id, ref in live.cards.items()}


def files_of(rendered: embeds.Rendered) -> list[discord.File]:
    return [discord.File(io.BytesIO(data), filename=name) for name, data in rendered.files]


class Board:
    def __init__(self, client: discord.Client, service: ConsensusService, pacer: ChannelPacer) -> None:
        self.client, self.pacer = client, pacer
        self.live = LiveBatches(service, self, PACING)

    async def post_cards(
        self, live: LiveBatch, target: Sendable | discord.abc.Messageable, *, new_thread: str | None = None
    ) -> None:
        """One card per model, in order; each remembered so buttons and edits survive a restart."""

        async def post(view: card.CardView) -> MessageRef:
            rendered = embeds.card_message(view)
            shown = card_view(view)
            if isinstance(target, discord.abc.Messageable):  # an interaction's follow-up takes no nonce
                nonce = card_nonce(view.answer.id)
                sent = await target.send(embeds=rendered.embeds, view=shown, files=files_of(rendered), nonce=nonce)
            else:
                sent = await target.send(embeds=rendered.embeds, view=shown, files=files_of(rendered))
            return MessageRef(str(sent.channel.id), str(sent.id))

        await self.live.post_cards(live, post, new_thread=new_thread)
        if new_thread is not None:
            await self._first_edit(live)

    async def _first_edit(self, live: LiveBatch) -> None:
        """discord.py sends one request at a time to a rate-limit bucket whose headers it has not
        seen, and the edits in a new thread are a new bucket: the first card still being written
        shows its text so far at once, so that the final states of the cards go out together."""
        for answer_id in live.cards:
            view = live.view(answer_id)
            if view is not None and view.state is card.CardState.WRITING:
                live.preview_shown[answer_id] = time.monotonic()  # the next preview keeps its pace
                await self.show_card(live, answer_id, optional=True)
                return

    @staticmethod
    def question_posted(live: LiveBatch, message: discord.Message) -> None:
        live.question = MessageRef(str(message.channel.id), str(message.id))

    # ---- the surface ------------------------------------------------------------------------
    async def show_question(self, live: LiveBatch, *, optional: bool = False) -> None:
        ref = live.question
        if ref is None or self.client.is_closed() or (optional and self.pacer.busy(ref.channel)):
            return

        async def job() -> None:
            rendered = embeds.question_message(live.batch, card_links(live))
            await self._partial(ref).edit(
                content=rendered.content,
                embeds=rendered.embeds,
                view=question_view(live.batch),
                allowed_mentions=NO_PINGS,
            )

        self.pacer.submit(ref.channel, ref.message_id, job)

    async def post_card(self, live: LiveBatch, view: card.CardView) -> MessageRef | None:
        """A card that joins the batch later (a merge), where the other cards are."""
        where = live.thread or next((ref.channel for ref in live.cards.values()), live.batch.channel)
        if self.client.is_closed():
            return None
        rendered = embeds.card_message(view)
        sent = await self.client.get_partial_messageable(int(where)).send(
            embeds=rendered.embeds,
            view=card_view(view),
            files=files_of(rendered),
            allowed_mentions=NO_PINGS,
            nonce=card_nonce(view.answer.id),
        )
        return MessageRef(str(sent.channel.id), str(sent.id))

    async def recover(self, live: LiveBatch) -> None:
        batch = live.batch
        where = self.client.get_partial_messageable(
            int(batch.thread if live.follow_up and batch.thread else batch.channel)
        )
        if live.question is None and batch.delivery:  # the interaction's reply, if it showed the question
            reply = await self._reply_to(where, batch.delivery)
            if reply is not None and reply.flags.loading:
                await reply.delete()  # "thinking…" forever otherwise: the question is posted afresh below
            elif reply is not None:
                live.question = MessageRef(str(reply.channel.id), str(reply.id))
        if live.question is None:  # the interaction's reply never showed: the bot posts the question
            rendered = embeds.question_message(batch)
            sent = await where.send(
                content=rendered.content,
                embeds=rendered.embeds,
                files=files_of(rendered),
                view=question_view(batch),
                allowed_mentions=NO_PINGS,
                nonce=question_nonce(batch.id),
            )
            live.question = MessageRef(str(sent.channel.id), str(sent.id))
        if live.thread is None and not live.follow_up:
            live.thread = await self._thread_of(live.question, live.batch.question)

    @staticmethod
    async def _reply_to(where: discord.PartialMessageable, interaction: str) -> discord.Message | None:
        """The message that answered `interaction`, among the channel's latest."""
        async for message in where.history(limit=SEARCHED):
            meta = message.interaction_metadata
            if meta is not None and str(meta.id) == interaction:
                return message
        return None

    async def _thread_of(self, question: MessageRef, text: str) -> str | None:
        """The thread of the question's message, started now or found; None where none can start."""
        try:
            channel = self.client.get_channel(int(question.channel)) or await self.client.fetch_channel(
                int(question.channel)
            )
            if not isinstance(channel, discord.TextChannel):
                return None  # a DM or a thread: the cards go where the question is
            message = channel.get_partial_message(int(question.message_id))  # with its guild, as threads need
            await message.create_thread(name=embeds.thread_name(text), auto_archive_duration=1440)
        except discord.HTTPException as exc:
            if exc.code != THREAD_EXISTS:
                return None  # a DM, or no permission: the cards go where the question is
        return question.message_id

    async def settled(self, live: LiveBatch) -> None:
        refs = [*live.cards.values(), *([live.question] if live.question else [])]
        await self.pacer.sent([(ref.channel, ref.message_id) for ref in refs])

    async def send_record(self, found: RecordFile, *, exported_by: discord.abc.User) -> None:
        """Export: the decision record attached in the conversation's thread (where the question
        was asked, when it has none)."""
        where = self.client.get_partial_messageable(int(found.thread or found.channel))
        await where.send(
            content=f"📄 Decision record of this conversation, exported by {exported_by.mention}.",
            file=discord.File(io.BytesIO(found.content), filename=found.name, description=found.title[:1024]),
            allowed_mentions=NO_PINGS,
        )

    async def show_card(self, live: LiveBatch, answer_id: int, *, optional: bool = False) -> None:
        ref = live.cards.get(answer_id)
        if ref is None or self.client.is_closed() or (optional and self.pacer.busy(ref.channel)):
            return  # streamed text never waits ahead of final states for the thread's bucket

        async def job() -> None:  # renders the latest state when its turn comes
            view = live.view(answer_id)
            if view is None or live.cards.get(answer_id) != ref:
                return
            message = self._partial(ref)
            if view.state is card.CardState.DELETED:
                await message.delete()
                live.cards.pop(answer_id, None)  # only once gone: a delete that failed is tried again
                return
            rendered = embeds.card_message(view)
            await message.edit(
                embeds=rendered.embeds, view=card_view(view), attachments=files_of(rendered), allowed_mentions=NO_PINGS
            )

        self.pacer.submit(ref.channel, ref.message_id, job)

    def _partial(self, ref: MessageRef) -> discord.PartialMessage:
        channel = self.client.get_partial_messageable(int(ref.channel))
        return channel.get_partial_message(int(ref.message_id))
