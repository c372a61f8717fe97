"""Keeps each question's thread on screen in step with the core: posts placeholders, turns core
events into card updates (through the pacer), and re-renders after clicks.

Only what changed on screen is sent: the last payload of every message is remembered, so a
click that changes one card costs one `chat.update`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from adapters.presenter import card
from adapters.slack import blocks
from adapters.slack.pacing import Pacer
from core.domain import Answer, AnswerStatus, Batch, MessageRef, WorkspaceRef
from core.events import AnswerProgress, AnswerStarted, BatchRanked, Event

log = logging.getLogger(__name__)
POSTED_WAIT = 30.0  # how long an event waits for its card to be posted
# Streamed text refreshes a card at most this often: chat.update is ~50 a minute per workspace.
# Progress is sent as optional (see pacing.py), so final states never queue behind it.
PROGRESS_EVERY = 3.0
# A card shows streamed text once its model has written for this long: a quick answer goes straight
# to its final state, without a preview that costs an update and is replaced a moment later.
FIRST_PREVIEW_AFTER = 1.0


class CoreForRendering(Protocol):
    async def set_thread(self, conversation_id: int, workspace: WorkspaceRef, thread: str) -> None: ...
    async def get_batch(self, batch_id: int, workspace: WorkspaceRef) -> Batch: ...
    async def remember_messages(self, workspace: WorkspaceRef, refs: Sequence[tuple[str, int, MessageRef]]
                                ) -> None: ...
    async def message_for(self, workspace: WorkspaceRef, kind: str, target_id: int) -> MessageRef | None: ...


@dataclass
class Thread:
    """One batch as shown in Slack."""

    batch: Batch
    asker_name: str
    follow_up: bool
    parent: MessageRef | None = None
    cards: dict[int, MessageRef] = field(default_factory=dict)
    more: dict[int, list[MessageRef]] = field(default_factory=dict)
    answers: dict[int, Answer] = field(default_factory=dict)
    previews: dict[int, str] = field(default_factory=dict)
    progress_shown: dict[int, float] = field(default_factory=dict)  # answer id -> when, monotonic
    posted: asyncio.Event = field(default_factory=asyncio.Event)

    def current(self) -> Batch:
        return replace(self.batch, answers=tuple(self.answers.get(a.id, a) for a in self.batch.answers))


class ThreadRenderer:
    def __init__(self, core: CoreForRendering, pacer: Pacer, *, keep: int = 500,
                 name_of: Callable[[str, str], Awaitable[str]] | None = None,
                 workspace_url: Callable[[str], Awaitable[str | None]] | None = None) -> None:
        self.core, self.pacer, self.keep = core, pacer, keep
        self.name_of = name_of  # (team, user) -> display name, for batches this process did not open
        self.workspace_url = workspace_url  # team -> https://x.slack.com/, for links to the cards
        self.threads: OrderedDict[int, Thread] = OrderedDict()
        self._shown: dict[tuple[str, str], Any] = {}

    def _track(self, thread: Thread) -> Thread:
        self.threads[thread.batch.id] = thread
        self.threads.move_to_end(thread.batch.id)
        while len(self.threads) > self.keep:
            _, old = self.threads.popitem(last=False)
            for ref in [old.parent, *old.cards.values()]:
                if ref is not None:
                    self._shown.pop((ref.channel, ref.message_id), None)
        return thread

    # --- opening a question ------------------------------------------------------------------------

    async def open(self, batch: Batch, *, asker_name: str, follow_up: bool = False) -> None:
        """Post the question (or a follow-up header in its thread) and one placeholder per model."""
        thread = self._track(Thread(batch, asker_name, follow_up, answers={a.id: a for a in batch.answers}))
        ws = batch.workspace
        try:
            head = blocks.parent(batch, asker_name=asker_name, follow_up=follow_up)
            anchor = batch.thread if follow_up else None
            ts = await self.pacer.post(batch.channel, text=head.text, blocks=head.blocks, thread_ts=anchor)
            thread.parent = MessageRef(batch.channel, ts)
            self._shown[(batch.channel, ts)] = head.blocks
            if not follow_up:
                await self.core.set_thread(batch.conversation_id, ws, ts)
                thread.batch = batch = replace(batch, thread=ts)
            for answer in batch.answers:
                shown = blocks.card_message(card.view(thread.answers[answer.id], batch))
                card_ts = await self.pacer.post(batch.channel, text=shown.text, blocks=shown.blocks,
                                                thread_ts=batch.thread)
                ref = thread.cards[answer.id] = MessageRef(batch.channel, card_ts)
                self._shown[(ref.channel, ref.message_id)] = shown.blocks
            # stored for a restart or another replica; clicks carry the answer id and need none of it
            await self.core.remember_messages(ws, [("batch", batch.id, thread.parent),
                                                   *(("answer", a, ref) for a, ref in thread.cards.items())])
        finally:
            thread.posted.set()
        # events may have arrived while posting: show the latest state of everything
        await self._render_all(thread)

    async def adopt(self, batch: Batch, asker_name: str) -> Thread:
        """The thread of a batch this process did not open (a restart, another replica)."""
        known = self.threads.get(batch.id)
        if known is not None:
            return known
        thread = Thread(batch, asker_name, follow_up=False, answers={a.id: a for a in batch.answers})
        ws = batch.workspace
        thread.parent = await self.core.message_for(ws, "batch", batch.id)
        thread.follow_up = thread.parent is not None and thread.parent.message_id != batch.thread
        for answer in batch.answers:
            ref = await self.core.message_for(ws, "answer", answer.id)
            if ref is not None:
                thread.cards[answer.id] = ref
        thread.posted.set()
        return self._track(thread)

    # --- core events ---------------------------------------------------------------------------------

    async def on_event(self, event: Event) -> None:
        if isinstance(event, BatchRanked):
            batch = event.batch
            if batch.id not in self.threads:  # resumed after a restart, or opened by another replica
                name = await self.name_of(batch.workspace.external_id, batch.asker) if self.name_of else batch.asker
                await self.adopt(batch, name)
            thread = await self._wait(batch.id)
            if thread is None:
                return
            thread.batch = event.batch
            thread.answers = {a.id: a for a in event.batch.answers}
            await self._render_all(thread)
            return
        answer = event.answer
        thread = await self._wait(answer.batch_id)
        if thread is None:
            return
        thread.answers[answer.id] = answer
        progress = isinstance(event, AnswerProgress)
        if isinstance(event, AnswerProgress):
            thread.previews[answer.id] = event.text
            now = time.monotonic()
            shown = thread.progress_shown.setdefault(answer.id, now - PROGRESS_EVERY + FIRST_PREVIEW_AFTER)
            if now - shown < PROGRESS_EVERY:
                return  # the next refresh or the final state shows it
            thread.progress_shown[answer.id] = now
        elif isinstance(event, AnswerStarted):
            thread.previews.pop(answer.id, None)
            thread.progress_shown.pop(answer.id, None)
        await self._render_card(thread, answer.id, optional=progress)
        if not progress:
            # "3/5 answered" is progress too, while answers are outstanding and the ranking will follow
            live = thread.current().live_answers
            waiting = any(a.status in (AnswerStatus.PENDING, AnswerStatus.RUNNING) for a in live)
            await self._render_parent(thread, optional=waiting)

    async def _wait(self, batch_id: int) -> Thread | None:
        thread = self.threads.get(batch_id)
        if thread is None:
            log.debug("event for batch %s, which is not on screen here", batch_id)
            return None
        if thread.posted.is_set():
            return thread
        try:
            await asyncio.wait_for(thread.posted.wait(), POSTED_WAIT)
        except TimeoutError:
            log.warning("cards of batch %s were not posted in time", batch_id)
            return None
        return thread

    # --- after clicks ---------------------------------------------------------------------------------

    async def show_batch(self, batch: Batch, asker_name: str) -> None:
        thread = await self.adopt(batch, asker_name)
        thread.batch = batch
        thread.answers = {a.id: a for a in batch.answers}
        await self._render_all(thread)

    async def show_answer(self, answer: Answer, batch: Batch, asker_name: str) -> None:
        thread = await self.adopt(batch, asker_name)
        thread.answers[answer.id] = answer
        if answer.status in ("pending", "running"):
            thread.previews.pop(answer.id, None)
        await self._render_card(thread, answer.id)
        await self._render_parent(thread)

    # --- rendering --------------------------------------------------------------------------------------

    async def _render_all(self, thread: Thread) -> None:
        for answer_id in list(thread.answers):
            await self._render_card(thread, answer_id)
        await self._render_parent(thread)

    async def _render_parent(self, thread: Thread, *, optional: bool = False) -> None:
        if thread.parent is None:
            return
        batch = thread.current()
        links: dict[int, str] = {}
        if card.is_ranked(batch) and self.workspace_url is not None:
            url = await self.workspace_url(batch.workspace.external_id)
            for answer_id, ref in thread.cards.items():
                link = blocks.permalink(url, ref, batch.thread)
                if link:
                    links[answer_id] = link
        head = blocks.parent(batch, asker_name=thread.asker_name, follow_up=thread.follow_up, links=links)
        self._update(thread, thread.parent, head, optional=optional)

    async def _render_card(self, thread: Thread, answer_id: int, *, optional: bool = False) -> None:
        answer = thread.answers[answer_id]
        ref = thread.cards.get(answer_id)
        if ref is None:
            return
        if answer.is_deleted:
            for gone in [*thread.more.pop(answer_id, []), ref]:
                self._shown.pop((gone.channel, gone.message_id), None)
                await self.pacer.delete(gone.channel, gone.message_id)
            del thread.cards[answer_id]
            return
        rendered = blocks.card_message(card.view(answer, thread.current(), thread.previews.get(answer_id)))
        self._update(thread, ref, rendered, optional=optional)
        await self._render_more(thread, answer_id, rendered)

    async def _render_more(self, thread: Thread, answer_id: int, card: blocks.Rendered) -> None:
        """Continuation messages of an expanded long answer: update, post or delete to match."""
        existing = thread.more.setdefault(answer_id, [])
        for index, (more_blocks, text) in enumerate(card.more):
            if index < len(existing):
                self._update(thread, existing[index], blocks.Rendered(more_blocks, text))
            else:
                ts = await self.pacer.post(thread.batch.channel, text=text, blocks=more_blocks,
                                           thread_ts=thread.batch.thread)
                existing.append(MessageRef(thread.batch.channel, ts))
        while len(existing) > len(card.more):
            gone = existing.pop()
            self._shown.pop((gone.channel, gone.message_id), None)
            await self.pacer.delete(gone.channel, gone.message_id)

    def _update(self, thread: Thread, ref: MessageRef, rendered: blocks.Rendered, *, optional: bool = False) -> None:
        key = (ref.channel, ref.message_id)
        if self._shown.get(key) == rendered.blocks:
            return
        if self.pacer.update(thread.batch.workspace.external_id, ref.channel, ref.message_id,
                             text=rendered.text, blocks=rendered.blocks, optional=optional):
            self._shown[key] = rendered.blocks
