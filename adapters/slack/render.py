"""The Slack surface of the live batches: posts a question and its cards, and sends each card's
latest look through the pacer. What a card says and when it changes is the presenter's.

Only what changed on screen is sent: the last payload of every message is remembered, so a
click that changes one card costs one `chat.update`.

Every question and card is posted with message metadata naming its batch and answer: a process
that adopts a batch whose references were never stored finds them in the channel or thread
(`conversations.history` / `conversations.replies` with `include_all_metadata`) instead of
posting them twice.
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
QUESTION_EVENT, CARD_EVENT = "consensus_question", "consensus_card"  # message metadata event types
SEARCHED = 200  # latest messages of a channel or thread searched for an adopted batch's messages


def question_metadata(batch: Batch) -> dict[str, Any]:
    return {"event_type": QUESTION_EVENT, "event_payload": {"batch_id": batch.id}}


def card_metadata(answer: Answer) -> dict[str, Any]:
    return {"event_type": CARD_EVENT, "event_payload": {"batch_id": answer.batch_id, "answer_id": answer.id}}


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
            ts = await self._post_question(live)
            if not follow_up:
                live.thread = new_thread = ts
        except BaseException:
            live.posted.set()  # nothing to wait for: the question never showed
            raise

        async def post(view: card.CardView) -> MessageRef:
            return await self.post_card(live, view)

        await self.live.post_cards(live, post, new_thread=new_thread)

    async def _post_question(self, live: LiveBatch) -> str:
        batch = live.batch
        head = blocks.parent(batch, asker_name=live.asker_name, follow_up=live.follow_up)
        ts = await self.pacer.post(
            batch.channel,
            text=head.text,
            blocks=head.blocks,
            thread_ts=batch.thread if live.follow_up else None,
            metadata=question_metadata(batch),
        )
        live.question = MessageRef(batch.channel, ts)
        self._remember((batch.channel, ts), head.blocks)
        return ts

    async def recover(self, live: LiveBatch) -> None:
        batch = live.batch
        marked: list[dict[str, Any]] | None = None  # the thread's messages, read once
        if live.question is None:
            where = batch.thread if live.follow_up else None
            found = await self._marked(batch.channel, where)
            if where is not None and where == live.thread:
                marked = found
            for message in found:
                if _payload(message, QUESTION_EVENT).get("batch_id") == batch.id:
                    live.question = MessageRef(batch.channel, str(message["ts"]))
                    break
            if live.question is None:
                await self._post_question(live)
            if not live.follow_up:
                assert live.question is not None
                live.thread = live.question.message_id
        if live.thread is None or all(a.id in live.cards for a in batch.answers):
            return
        mine = {a.id for a in batch.answers}
        for message in marked if marked is not None else await self._marked(batch.channel, live.thread):
            answer_id = _payload(message, CARD_EVENT).get("answer_id")
            if answer_id in mine and answer_id not in live.cards:
                live.cards[answer_id] = MessageRef(batch.channel, str(message["ts"]))

    async def _marked(self, channel: str, thread: str | None) -> list[dict[str, Any]]:
        """The latest messages of a channel (or a thread), with their metadata."""
        if thread is None:
            found = await self.pacer.client.conversations_history(
                channel=channel, limit=SEARCHED, include_all_metadata=True
            )
        else:
            found = await self.pacer.client.conversations_replies(
                channel=channel, ts=thread, limit=SEARCHED, include_all_metadata=True
            )
        return list(found.get("messages") or [])

    async def settled(self, live: LiveBatch) -> None:
        refs = [*live.cards.values(), *([live.question] if live.question else [])]
        await self.pacer.sent([(ref.channel, ref.message_id) for ref in refs])

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
        card_ts = await self.pacer.post(
            channel, text=shown.text, blocks=shown.blocks, thread_ts=live.thread, metadata=card_metadata(view.answer)
        )
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


def _payload(message: dict[str, Any], event_type: str) -> dict[str, Any]:
    """The metadata payload of one of our messages of `event_type`, else nothing."""
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != event_type:
        return {}
    payload = metadata.get("event_payload")
    return payload if isinstance(payload, dict) else {}
