"""The live board: which Discord message shows which batch and answer, fed by the core's events.

Events may arrive before the cards are posted (the fan-out starts as soon as `ask` returns); they
are kept and folded in when the batch is tracked. Every edit is queued on the channel's pacer and
renders the latest state when it runs, with the bot token (not the 15-minute interaction token).
"""

from __future__ import annotations

import dataclasses
import io
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

import discord

from adapters.discord import embeds
from adapters.discord.pacing import ChannelPacer
from adapters.discord.views import card_view
from adapters.presenter import card
from core.domain import Answer, Batch, MessageRef, WorkspaceRef
from core.events import AnswerFailed, AnswerProgress, AnswerReady, AnswerStarted, BatchRanked, Event
from core.service import ConsensusService

log = logging.getLogger(__name__)
KEEP_BATCHES = 500
KEEP_EARLY = 200
PROGRESS_EVERY = 1.0  # streamed text: at most one edit a second per card
FIRST_PREVIEW_AFTER = 1.0  # and only once the model has written for a second: a quick answer goes straight to final
NO_PINGS = discord.AllowedMentions.none()  # edits do not inherit the client-wide default


class Sendable(Protocol):
    async def send(self, **kwargs: Any) -> Any: ...


@dataclass
class LiveBatch:
    workspace: WorkspaceRef
    batch: Batch
    question: MessageRef | None = None
    cards: dict[int, MessageRef] = field(default_factory=dict)
    progress: dict[int, str] = field(default_factory=dict)
    progress_shown: dict[int, float] = field(default_factory=dict)  # answer id -> when, monotonic
    removed: set[int] = field(default_factory=set)
    versions: dict[int, int] = field(default_factory=dict)

    def answer(self, answer_id: int) -> Answer | None:
        return next((a for a in self.batch.answers if a.id == answer_id), None)

    def put(self, answer: Answer) -> None:
        answers = tuple(answer if a.id == answer.id else a for a in self.batch.answers)
        self.batch = dataclasses.replace(self.batch, answers=answers)
        self.versions[answer.id] = self.versions.get(answer.id, 0) + 1


def card_links(live: LiveBatch) -> dict[int, str]:
    """Jump URLs of the cards, for the ranking on the question's message."""
    guild = live.workspace.external_id
    guild_id = None if guild.startswith("dm-") else guild
    return {answer_id: embeds.message_url(guild_id, ref) for answer_id, ref in live.cards.items()}


def files_of(rendered: embeds.Rendered) -> list[discord.File]:
    return [discord.File(io.BytesIO(data), filename=name) for name, data in rendered.files]


class Board:
    def __init__(self, client: discord.Client, service: ConsensusService, pacer: ChannelPacer) -> None:
        self.client, self.service, self.pacer = client, service, pacer
        self._live: OrderedDict[int, LiveBatch] = OrderedDict()
        self._early: OrderedDict[int, list[Event]] = OrderedDict()

    # ---- tracking ---------------------------------------------------------------------------
    def track(self, batch: Batch, workspace: WorkspaceRef) -> LiveBatch:
        live = self._live.get(batch.id)
        if live is None:
            live = self._live[batch.id] = LiveBatch(workspace, batch)
            while len(self._live) > KEEP_BATCHES:
                self._live.popitem(last=False)
            for event in self._early.pop(batch.id, []):
                self._fold(live, event)
        self._live.move_to_end(batch.id)
        return live

    async def live(self, batch_id: int, workspace: WorkspaceRef) -> LiveBatch:
        """The tracked batch, or (after a restart, or on another replica) one rebuilt from the store."""
        found = self._live.get(batch_id)
        if found is not None:
            return found
        batch = await self.service.get_batch(batch_id, workspace)
        question = await self.service.message_for(workspace, "batch", batch.id)
        live = self.track(batch, workspace)
        live.question = live.question or question
        for answer in batch.answers:
            ref = await self.service.message_for(workspace, "answer", answer.id)
            if ref is not None:
                live.cards.setdefault(answer.id, ref)
            if answer.is_deleted:
                live.removed.add(answer.id)
        return live

    # ---- posting ----------------------------------------------------------------------------
    async def post_cards(self, live: LiveBatch, target: Sendable | discord.abc.Messageable) -> None:
        """One card per model, in order; each remembered so buttons and edits survive a restart."""
        for answer_id in [a.id for a in live.batch.answers]:
            answer = live.answer(answer_id)  # the latest state: events keep arriving while we post
            if answer is None or answer.is_deleted:
                continue
            seen = live.versions.get(answer.id, 0)
            shown = card.view(answer, live.batch, live.progress.get(answer.id))
            rendered = embeds.card_message(shown)
            sent = await target.send(embeds=rendered.embeds, view=card_view(shown), files=files_of(rendered))
            live.cards[answer.id] = MessageRef(str(sent.channel.id), str(sent.id))
            if live.versions.get(answer.id, 0) != seen:
                self.show_card(live, answer.id)
        # stored for a restart or another replica, in one write; clicks carry the answer id
        refs = [("answer", answer_id, ref) for answer_id, ref in live.cards.items()]
        if live.question is not None:
            refs.append(("batch", live.batch.id, live.question))
        await self.service.remember_messages(live.workspace, refs)

    @staticmethod
    def question_posted(live: LiveBatch, message: discord.Message) -> None:
        """Where the question was posted; stored with the cards by `post_cards`."""
        live.question = MessageRef(str(message.channel.id), str(message.id))

    # ---- events -----------------------------------------------------------------------------
    async def on_event(self, event: Event) -> None:
        if self.client.is_closed():
            return
        batch_id = event.batch.id if isinstance(event, BatchRanked) else event.answer.batch_id
        live = self._live.get(batch_id)
        if live is None:
            self._early.setdefault(batch_id, []).append(event)
            while len(self._early) > KEEP_EARLY:
                self._early.popitem(last=False)
            return
        self._fold(live, event)
        if isinstance(event, BatchRanked):
            self.show_all(live)
            return
        if isinstance(event, AnswerStarted):
            live.progress_shown.pop(event.answer.id, None)
            return  # the card already says it is waiting; its text or result comes next
        if isinstance(event, AnswerProgress) and not self._progress_due(live, event.answer.id):
            return
        self.show_card(live, event.answer.id)
        if isinstance(event, AnswerReady | AnswerFailed):
            self.show_question(live)

    def _progress_due(self, live: LiveBatch, answer_id: int) -> bool:
        """Streamed text shows once the model has written for FIRST_PREVIEW_AFTER s, then refreshes at
        most every PROGRESS_EVERY s, and never ahead of final states waiting for the thread's bucket."""
        ref = live.cards.get(answer_id)
        now = time.monotonic()
        shown = live.progress_shown.setdefault(answer_id, now - PROGRESS_EVERY + FIRST_PREVIEW_AFTER)
        if ref is None or self.pacer.busy(ref.channel) or now - shown < PROGRESS_EVERY:
            return False
        live.progress_shown[answer_id] = now
        return True

    def _fold(self, live: LiveBatch, event: Event) -> None:
        if isinstance(event, BatchRanked):
            live.batch = event.batch
            for answer in event.batch.answers:
                live.progress.pop(answer.id, None)
                live.versions[answer.id] = live.versions.get(answer.id, 0) + 1
        elif isinstance(event, AnswerProgress):
            live.progress[event.answer.id] = event.text
            live.put(event.answer)
        elif isinstance(event, AnswerStarted | AnswerReady | AnswerFailed):
            if not isinstance(event, AnswerStarted):
                live.progress.pop(event.answer.id, None)
            live.put(event.answer)

    # ---- re-rendering -----------------------------------------------------------------------
    def update(self, live: LiveBatch, change: Answer | Batch) -> None:
        """Fold in what a click returned and show it."""
        if isinstance(change, Batch):
            live.batch = change
            self.show_all(live)
        else:
            live.progress.pop(change.id, None)
            live.put(change)
            self.show_card(live, change.id)
            self.show_question(live)

    def show_all(self, live: LiveBatch) -> None:
        self.show_question(live)
        for answer in live.batch.answers:
            self.show_card(live, answer.id)

    def show_question(self, live: LiveBatch) -> None:
        ref = live.question
        if ref is None:
            return

        async def job() -> None:
            rendered = embeds.question_message(live.batch, card_links(live))
            message = self._partial(ref)
            await message.edit(content=rendered.content, embeds=rendered.embeds, allowed_mentions=NO_PINGS)

        self.pacer.submit(ref.channel, ref.message_id, job)

    def show_card(self, live: LiveBatch, answer_id: int) -> None:
        ref = live.cards.get(answer_id)
        if ref is None or answer_id in live.removed:
            return

        async def job() -> None:
            answer = live.answer(answer_id)
            if answer is None or answer_id in live.removed:
                return
            message = self._partial(ref)
            if answer.is_deleted:
                live.removed.add(answer_id)
                await message.delete()
                return
            shown = card.view(answer, live.batch, live.progress.get(answer_id))
            rendered = embeds.card_message(shown)
            await message.edit(embeds=rendered.embeds, view=card_view(shown), attachments=files_of(rendered),
                               allowed_mentions=NO_PINGS)

        self.pacer.submit(ref.channel, ref.message_id, job)

    def _partial(self, ref: MessageRef) -> discord.PartialMessage:
        channel = self.client.get_partial_messageable(int(ref.channel))
        return channel.get_partial_message(int(ref.message_id))
