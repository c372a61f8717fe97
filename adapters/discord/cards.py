"""The Discord surface of the live batches: each card's latest look, sent through the channel's
pacer with the bot token (not the 15-minute interaction token). What a card says and when it
changes is the presenter's.
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
            sent = await target.send(embeds=rendered.embeds, view=card_view(view), files=files_of(rendered))
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
        where = live.thread or next((ref.channel for ref in live.cards.values()), None)
        if where is None or self.client.is_closed():
            return None
        rendered = embeds.card_message(view)
        sent = await self.client.get_partial_messageable(int(where)).send(
            embeds=rendered.embeds, view=card_view(view), files=files_of(rendered), allowed_mentions=NO_PINGS
        )
        return MessageRef(str(sent.channel.id), str(sent.id))

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
