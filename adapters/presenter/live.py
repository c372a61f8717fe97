"""One live batch on a platform: the core's events folded into it, shown through the platform's
surface, paced, and found again after a restart.

The one rule for early events: the fan-out starts as soon as `ask` returns, so events can come
before the adapter has posted anything. An event for a batch not tracked yet is kept (for up to
KEEP_EARLY batches) and folded in when it is tracked; an event for a tracked batch whose cards are
still being posted is folded at once and shown when posting ends. The last answers a batch waits for
(those that finish together) are shown with the ranking that follows them at once (one edit per
card, not two), or after `rank_wait` if the ranking is slow. An answer that joins a batch
after its cards were posted (a merge) gets a card of its own, posted once. A ranking for a batch this
process never saw (a restart, another replica) restores the batch from the store, if the store
knows where its messages are.

Exactly once, whenever a process dies: every message's reference is stored the moment it is posted,
and a batch whose cards show their final state is reported delivered. A batch adopted from a dead
process (BatchResumed) is rebuilt: the surface first finds what was posted but never stored (each
platform marks its messages so that they can be found), then what is missing is posted and the
rest edited to its latest state.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from adapters.presenter import card
from core.domain import Answer, AnswerStatus, Batch, BatchStatus, MessageRef, WorkspaceRef
from core.events import AnswerFailed, AnswerProgress, AnswerReady, AnswerStarted, BatchRanked, BatchResumed, Event

log = logging.getLogger(__name__)
KEEP_BATCHES = 500  # recent batches kept in memory; older ones are restored from the store
KEEP_EARLY = 200  # batches whose events came before they were tracked


class Surface(Protocol):
    """How a platform sends a live batch's messages; `optional` states may be dropped under load."""

    async def show_card(self, live: LiveBatch, answer_id: int, *, optional: bool = False) -> None: ...
    async def show_question(self, live: LiveBatch, *, optional: bool = False) -> None: ...
    async def post_card(self, live: LiveBatch, view: card.CardView) -> MessageRef | None: ...
    async def recover(self, live: LiveBatch) -> None:
        """An adopted batch: find its messages posted but never stored, post its question (and
        thread) if it never showed; sets live.question, live.thread and live.cards."""

    async def settled(self, live: LiveBatch) -> None:
        """Return once every state sent to the batch's messages has reached the platform."""


class CoreForLive(Protocol):
    async def get_batch(self, batch_id: int, workspace: WorkspaceRef) -> Batch: ...
    async def message_for(self, workspace: WorkspaceRef, kind: str, target_id: int) -> MessageRef | None: ...
    async def batch_delivered(self, batch_id: int) -> None: ...
    async def cards_posted(
        self,
        workspace: WorkspaceRef,
        refs: Sequence[tuple[str, int, MessageRef]],
        *,
        conversation_id: int | None = None,
        thread: str | None = None,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Pacing:
    preview_every: float  # streamed text refreshes a card at most this often
    # ...and only once the model has written for this long: a quick answer goes straight to its
    # final state, without a preview that costs an edit and is replaced a moment later
    first_preview_after: float = 1.0
    # a finished answer waits this long for the answers finishing with it (each is stored and
    # published a few ms apart); when none is left answering, the ranking follows within ms and
    # the cards wait for it, at most `rank_wait`: one edit each, instead of the ranked state
    # waiting a round trip behind the answer's own
    together: float = 0.05
    rank_wait: float = 0.25


@dataclass
class LiveBatch:
    batch: Batch
    asker_name: str
    follow_up: bool = False  # the question is a reply in an existing thread
    thread: str | None = None  # where the cards are: the platform's thread id, once known
    question: MessageRef | None = None
    question_stored: MessageRef | None = None  # the reference the store holds for the question
    cards: dict[int, MessageRef] = field(default_factory=dict)
    previews: dict[int, str] = field(default_factory=dict)
    preview_shown: dict[int, float] = field(default_factory=dict)  # answer id -> when, monotonic
    versions: dict[int, int] = field(default_factory=dict)  # answer id -> how often it changed
    posted: asyncio.Event = field(default_factory=asyncio.Event)
    posting: set[int] = field(default_factory=set)  # answers whose card is being posted after the others
    ranked: asyncio.Event = field(default_factory=asyncio.Event)  # set by a ranking, cleared when a model starts

    def answer(self, answer_id: int) -> Answer | None:
        return next((a for a in self.batch.answers if a.id == answer_id), None)

    def view(self, answer_id: int) -> card.CardView | None:
        answer = self.answer(answer_id)
        return None if answer is None else card.view(answer, self.batch, self.previews.get(answer_id))

    def put(self, answer: Answer) -> None:
        """Fold in an answer's new state; an answer new to the batch (a merge) joins it."""
        known = any(a.id == answer.id for a in self.batch.answers)
        answers = tuple(answer if a.id == answer.id else a for a in self.batch.answers)
        self.batch = dataclasses.replace(self.batch, answers=answers if known else (*answers, answer))
        self.versions[answer.id] = self.versions.get(answer.id, 0) + 1

    def replace_batch(self, batch: Batch) -> None:
        self.batch = batch
        for answer in batch.answers:
            self.previews.pop(answer.id, None)
            self.versions[answer.id] = self.versions.get(answer.id, 0) + 1

    def preview_due(self, answer_id: int, pacing: Pacing) -> bool:
        now = time.monotonic()
        shown = self.preview_shown.setdefault(answer_id, now - pacing.preview_every + pacing.first_preview_after)
        if now - shown < pacing.preview_every:
            return False  # the next refresh, or the final state, shows it
        self.preview_shown[answer_id] = now
        return True


class LiveBatches:
    def __init__(
        self,
        core: CoreForLive,
        surface: Surface,
        pacing: Pacing,
        *,
        name_of: Callable[[WorkspaceRef, str], Awaitable[str]] | None = None,
    ) -> None:
        self.core, self.surface, self.pacing = core, surface, pacing
        self.name_of = name_of  # the asker's display name, for batches restored from the store
        self.batches: OrderedDict[int, LiveBatch] = OrderedDict()
        self._early: OrderedDict[int, list[Event]] = OrderedDict()
        self._showing: set[asyncio.Task[None]] = set()  # finished answers about to be shown

    # ---- tracking ---------------------------------------------------------------------------
    def track(self, batch: Batch, *, asker_name: str | None = None, follow_up: bool = False) -> LiveBatch:
        """A batch this process is about to post; the events that came before are folded in."""
        live = self.batches.get(batch.id)
        if live is None:
            live = LiveBatch(batch, asker_name or batch.asker, follow_up, thread=batch.thread)
            self._keep(live)
            for event in self._early.pop(batch.id, []):
                self._fold(live, event)
        self.batches.move_to_end(batch.id)
        return live

    def _keep(self, live: LiveBatch) -> None:
        self.batches[live.batch.id] = live
        while len(self.batches) > KEEP_BATCHES:
            self.batches.popitem(last=False)

    async def live(self, batch_id: int, workspace: WorkspaceRef) -> LiveBatch:
        """The tracked batch, or one restored from the store (after a restart, on another replica)."""
        found = self.batches.get(batch_id)
        if found is not None:
            return found
        return await self.restore(await self.core.get_batch(batch_id, workspace))

    async def restore(self, batch: Batch, *, posted: bool = True) -> LiveBatch:
        """The batch with the messages the store knows; not `posted`: events are folded in but
        shown only once the missing messages are posted (an adopted batch)."""
        found = self.batches.get(batch.id)
        if found is not None:
            return found
        ws = batch.workspace
        name = await self.name_of(ws, batch.asker) if self.name_of else batch.asker
        live = LiveBatch(batch, name, thread=batch.thread)
        live.question = await self.core.message_for(ws, "batch", batch.id)
        # a question whose thread is known but whose own message is not was asked in that thread
        live.follow_up = batch.thread is not None and (
            live.question is None or live.question.message_id != batch.thread
        )
        for answer in batch.answers:
            ref = await self.core.message_for(ws, "answer", answer.id)
            if ref is not None:
                live.cards[answer.id] = ref
        if posted:
            live.posted.set()
        found = self.batches.get(batch.id)  # restored meanwhile by another event or click
        if found is not None:
            return found
        self._keep(live)
        for event in self._early.pop(batch.id, []):
            self._fold(live, event)
        return live

    async def resume(self, batch: Batch) -> None:
        """Rebuild an adopted batch's cards: find, then post what is missing, then edit the rest."""
        live = await self.restore(batch, posted=False)
        if live.posted.is_set():  # tracked here already: its own posting shows it
            return
        live.replace_batch(batch)
        try:
            known = (live.question, live.thread, dict(live.cards))
            await self.surface.recover(live)
            found = [("answer", answer_id, ref) for answer_id, ref in live.cards.items() if answer_id not in known[2]]
            if live.question is not None and live.question != known[0]:
                found.append(("batch", batch.id, live.question))
            thread = live.thread if live.thread != known[1] else None
            if found or thread:
                await self.core.cards_posted(
                    batch.workspace, found, conversation_id=batch.conversation_id, thread=thread
                )
        finally:
            live.posted.set()
        await self.show_all(live)
        await self._deliver_if_final(live)

    async def _deliver_if_final(self, live: LiveBatch) -> None:
        """Once the batch is finished and its final states reached the platform, nobody needs to finish it."""
        if live.batch.status in (BatchStatus.PENDING, BatchStatus.RUNNING):
            return
        await self.surface.settled(live)
        await self.core.batch_delivered(live.batch.id)

    async def question_shown(self, live: LiveBatch, *, new_thread: str | None = None) -> None:
        """Store where the question is (and the thread it started) the moment it is posted; what
        the store already holds is not written again."""
        question = live.question
        refs = [] if question is None or question == live.question_stored else [("batch", live.batch.id, question)]
        if refs or new_thread is not None:
            await self.core.cards_posted(
                live.batch.workspace, refs, conversation_id=live.batch.conversation_id, thread=new_thread
            )
            live.question_stored = question

    # ---- posting ----------------------------------------------------------------------------
    async def post_cards(
        self, live: LiveBatch, post: Callable[[card.CardView], Awaitable[MessageRef]], *, new_thread: str | None = None
    ) -> None:
        """Post one card per model in order, each in its latest state and handed to the store as soon
        as it is posted (the question first, with the thread it started); the next card does not wait
        for that write. Then whatever changed while posting is shown."""
        shown: dict[int, int] = {}
        storing = [asyncio.ensure_future(self.question_shown(live, new_thread=new_thread))]
        try:
            for answer in live.batch.answers:
                view = live.view(answer.id)
                if view is None or answer.is_deleted:
                    continue
                shown[answer.id] = live.versions.get(answer.id, 0)
                live.cards[answer.id] = ref = await post(view)
                stored = self.core.cards_posted(live.batch.workspace, [("answer", answer.id, ref)])
                storing.append(asyncio.ensure_future(stored))
        finally:
            live.posted.set()
            await asyncio.gather(*storing)  # stored before the batch can count as delivered
        for answer_id, version in shown.items():
            view = live.view(answer_id)
            # streamed text waits for its pace: the next progress event shows it when due
            if live.versions.get(answer_id, 0) != version and view and view.state is not card.CardState.WRITING:
                await self.surface.show_card(live, answer_id)
        await self.surface.show_question(live)
        await self._deliver_if_final(live)  # ranked while its cards were being posted

    # ---- the core's events ------------------------------------------------------------------
    async def on_event(self, event: Event) -> None:
        if isinstance(event, BatchResumed):
            await self.resume(event.batch)
            return
        batch_id = event.batch.id if isinstance(event, BatchRanked) else event.answer.batch_id
        live = self.batches.get(batch_id)
        if live is None and isinstance(event, BatchRanked):
            if await self.core.message_for(event.batch.workspace, "batch", batch_id) is not None:
                self._early.pop(batch_id, None)  # the ranked batch says it all
                live = await self.restore(event.batch)  # posted before a restart, or by another replica
        if live is None:
            self._early.setdefault(batch_id, []).append(event)
            self._early.move_to_end(batch_id)
            while len(self._early) > KEEP_EARLY:
                self._early.popitem(last=False)
            return
        self._fold(live, event)
        if not live.posted.is_set():
            return  # shown when posting ends
        if not isinstance(event, BatchRanked) and self._unposted(live):
            await self.post_new_cards(live)  # its card shows its latest state
            return
        if isinstance(event, BatchRanked):
            try:
                await self.show_all(live)
            finally:  # a card the platform refuses for good (no access) is not kept leased forever
                await self._deliver_if_final(live)
        elif isinstance(event, AnswerProgress):
            if live.preview_due(event.answer.id, self.pacing):
                await self.surface.show_card(live, event.answer.id, optional=True)
        elif isinstance(event, AnswerReady | AnswerFailed):
            self._show_finished(live, event.answer.id)

    async def settle(self) -> None:
        """Until every finished answer waiting for its companions or its ranking is shown (at most
        `together + rank_wait`): before a platform is found idle or closes its senders."""
        while self._showing:
            await asyncio.gather(*self._showing, return_exceptions=True)

    def _show_finished(self, live: LiveBatch, answer_id: int) -> None:
        """Show a finished answer's card once the answers finishing with it are in too: while other
        models are answering, then; when none is left, the ranking follows at once and shows every
        card (one edit each instead of two), unless it takes longer than `rank_wait`."""

        async def show() -> None:
            await asyncio.sleep(self.pacing.together)
            waiting = card.waiting(live.batch)
            if not waiting:
                try:
                    await asyncio.wait_for(live.ranked.wait(), self.pacing.rank_wait)
                except TimeoutError:
                    pass  # a slow ranking (a judge model): the answer does not wait for it
                else:
                    return
            try:
                await self.surface.show_card(live, answer_id)
                # "2/3 answered" is progress too, while answers are outstanding and the ranking follows
                await self.surface.show_question(live, optional=bool(waiting))
            except Exception:
                log.exception("showing an answer of batch %s failed", live.batch.id)

        task = asyncio.create_task(show())
        self._showing.add(task)
        task.add_done_callback(self._showing.discard)

    @staticmethod
    def _fold(live: LiveBatch, event: Event) -> None:
        if isinstance(event, BatchRanked | BatchResumed):
            live.replace_batch(event.batch)
            if isinstance(event, BatchRanked):
                live.ranked.set()
            return
        answer = event.answer
        if isinstance(event, AnswerProgress):
            live.previews[answer.id] = event.text
        elif isinstance(event, AnswerStarted):
            live.ranked.clear()
            live.previews.pop(answer.id, None)
            live.preview_shown.pop(answer.id, None)
        else:
            live.previews.pop(answer.id, None)
        live.put(answer)

    # ---- after a click ----------------------------------------------------------------------
    async def apply(self, live: LiveBatch, change: Answer | Batch) -> None:
        """Fold in what a click returned and show it."""
        if isinstance(change, Batch):
            live.replace_batch(change)
            await self.show_all(live)
            return
        if change.status in (AnswerStatus.PENDING, AnswerStatus.RUNNING):
            live.previews.pop(change.id, None)  # asked again: the old text is gone
        live.put(change)
        await self.surface.show_card(live, change.id)
        await self.surface.show_question(live)

    async def show_all(self, live: LiveBatch) -> None:
        if self._unposted(live):
            await self.post_new_cards(live)
        for answer in live.batch.answers:
            await self.surface.show_card(live, answer.id)
        await self.surface.show_question(live)

    # ---- cards that join a posted batch ------------------------------------------------------
    @staticmethod
    def _unposted(live: LiveBatch) -> list[Answer]:
        return [
            a for a in live.batch.answers if a.id not in live.cards and a.id not in live.posting and not a.is_deleted
        ]

    async def post_new_cards(self, live: LiveBatch) -> None:
        """A card for each answer that joined after the others were posted, remembered for restarts;
        then whatever changed while it was posted is shown, and the question (its buttons change)."""
        for answer in self._unposted(live):
            live.posting.add(answer.id)
            try:
                version = live.versions.get(answer.id, 0)
                view = live.view(answer.id)
                ref = await self.surface.post_card(live, view) if view is not None else None
                if ref is None:
                    continue
                live.cards[answer.id] = ref
                await self.core.cards_posted(live.batch.workspace, [("answer", answer.id, ref)])
            finally:
                live.posting.discard(answer.id)
            view = live.view(answer.id)
            if live.versions.get(answer.id, 0) != version and view and view.state is not card.CardState.WRITING:
                await self.surface.show_card(live, answer.id)
        await self.surface.show_question(live)
