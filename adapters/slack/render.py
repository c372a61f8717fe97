"""The Slack surface of the live batches: posts a question and its cards, and sends each card's
latest look through the pacer. What a card says and when it changes is the presenter's.

Only what changed on screen is sent: the last payload of every message is remembered, so a
click that changes one card costs one `chat.update`.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from adapters.presenter import card
from adapters.presenter.live import CoreForLive, LiveBatch, LiveBatches, Pacing
from adapters.slack import blocks
from adapters.slack.pacing import Pacer
from core.domain import Answer, Batch, MessageRef, WorkspaceRef
from core.events import Event

# chat.update is ~50 a minute per workspace: streamed text refreshes a card at most every 3 s,
# and is sent as optional (see pacing.py), so final states never queue behind it.
PACING = Pacing(preview_every=3.0)
KEEP_SHOWN = 5000  # messages whose last payload is remembered (the recent batches' cards)


class ThreadRenderer:
    def __init__(
        self,
        core: CoreForLive,
        pacer: Pacer,
        *,
        name_of: Callable[[str, str], Awaitable[str]] | None = None,
        workspace_url: Callable[[str], Awaitable[str | None]] | None = None,
    ) -> None:
        self.pacer = pacer
        self.workspace_url = workspace_url  # team -> https://x.slack.com/, for links to the cards
        self._name_of = name_of  # (team, user) -> display name
        self.live = LiveBatches(core, self, PACING, name_of=self._display_name if name_of else None)
        self._shown: OrderedDict[tuple[str, str], Any] = OrderedDict()  # message -> blocks last sent
        self._more: dict[int, list[MessageRef]] = {}  # answer id -> continuation messages

    @property
    def threads(self) -> dict[int, LiveBatch]:
        return self.live.batches

    async def _display_name(self, workspace: WorkspaceRef, user: str) -> str:
        assert self._name_of is not None
        return await self._name_of(workspace.external_id, user)

    # --- opening a question ------------------------------------------------------------------------

    async def open(self, batch: Batch, *, asker_name: str, follow_up: bool = False) -> None:
        """Post the question (or a follow-up header in its thread) and one placeholder per model."""
        live = self.live.track(batch, asker_name=asker_name, follow_up=follow_up)
        new_thread: str | None = None
        try:
            head = blocks.parent(live.batch, asker_name=asker_name, follow_up=follow_up)
            ts = await self.pacer.post(
                batch.channel, text=head.text, blocks=head.blocks, thread_ts=batch.thread if follow_up else None
            )
            live.question = MessageRef(batch.channel, ts)
            self._remember((batch.channel, ts), head.blocks)
            if not follow_up:
                live.thread = new_thread = ts
        except BaseException:
            live.posted.set()  # nothing to wait for: the question never showed
            raise

        async def post(view: card.CardView) -> MessageRef:
            return await self.post_card(live, view)

        await self.live.post_cards(live, post, new_thread=new_thread)

    # --- the core's events and clicks ------------------------------------------------------------

    async def on_event(self, event: Event) -> None:
        await self.live.on_event(event)

    async def show(self, change: Answer | Batch, workspace: WorkspaceRef) -> None:
        batch_id = change.id if isinstance(change, Batch) else change.batch_id
        await self.live.apply(await self.live.live(batch_id, workspace), change)

    # --- the surface -------------------------------------------------------------------------------

    async def post_card(self, live: LiveBatch, view: card.CardView) -> MessageRef:
        channel = live.batch.channel
        shown = blocks.card_message(view)
        card_ts = await self.pacer.post(channel, text=shown.text, blocks=shown.blocks, thread_ts=live.thread)
        self._remember((channel, card_ts), shown.blocks)
        return MessageRef(channel, card_ts)

    async def show_question(self, live: LiveBatch, *, optional: bool = False) -> None:
        if live.question is None:
            return
        batch = dataclasses.replace(live.batch, thread=live.thread)
        links: dict[int, str] = {}
        if card.is_ranked(batch) and self.workspace_url is not None:
            url = await self.workspace_url(batch.workspace.external_id)
            for answer_id, ref in live.cards.items():
                link = blocks.permalink(url, ref, live.thread)
                if link:
                    links[answer_id] = link
        head = blocks.parent(batch, asker_name=live.asker_name, follow_up=live.follow_up, links=links)
        self._update(batch, live.question, head, optional=optional)

    async def show_card(self, live: LiveBatch, answer_id: int, *, optional: bool = False) -> None:
        view, ref = live.view(answer_id), live.cards.get(answer_id)
        if view is None or ref is None:
            return
        if view.state is card.CardState.DELETED:
            for gone in [*self._more.pop(answer_id, []), ref]:
                self._shown.pop((gone.channel, gone.message_id), None)
                await self.pacer.delete(gone.channel, gone.message_id)
            del live.cards[answer_id]
            return
        rendered = blocks.card_message(view)
        self._update(live.batch, ref, rendered, optional=optional)
        await self._show_more(live, answer_id, rendered)

    async def _show_more(self, live: LiveBatch, answer_id: int, rendered: blocks.Rendered) -> None:
        """Continuation messages of an expanded long answer: update, post or delete to match."""
        if not rendered.more and not self._more.get(answer_id):
            return
        existing = self._more.setdefault(answer_id, [])
        for index, (more_blocks, text) in enumerate(rendered.more):
            if index < len(existing):
                self._update(live.batch, existing[index], blocks.Rendered(more_blocks, text))
            else:
                ts = await self.pacer.post(live.batch.channel, text=text, blocks=more_blocks, thread_ts=live.thread)
                existing.append(MessageRef(live.batch.channel, ts))
        while len(existing) > len(rendered.more):
            gone = existing.pop()
            self._shown.pop((gone.channel, gone.message_id), None)
            await self.pacer.delete(gone.channel, gone.message_id)

    def _update(self, batch: Batch, ref: MessageRef, rendered: blocks.Rendered, *, optional: bool = False) -> None:
        key = (ref.channel, ref.message_id)
        if self._shown.get(key) == rendered.blocks:
            return
        if self.pacer.update(
            batch.workspace.external_id,
            ref.channel,
            ref.message_id,
            text=rendered.text,
            blocks=rendered.blocks,
            optional=optional,
        ):
            self._remember(key, rendered.blocks)

    def _remember(self, key: tuple[str, str], payload: Any) -> None:
        self._shown[key] = payload
        self._shown.move_to_end(key)
        while len(self._shown) > KEEP_SHOWN:
            self._shown.popitem(last=False)
