"""One live batch, with a fake surface and a fake core: no sockets, no platform."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from adapters.presenter import live as live_module
from adapters.presenter.card import CardView
from adapters.presenter.live import LiveBatch, LiveBatches, Pacing
from core.domain import Answer, AnswerStatus, Batch, BatchStatus, MessageRef, Platform, WorkspaceRef
from core.events import AnswerProgress, AnswerReady, AnswerStarted, BatchRanked, BatchResumed

WS = WorkspaceRef(Platform.SLACK, "T1")


def answer(id: int, **kw: Any) -> Answer:
    base: dict[str, Any] = dict(
        id=id, batch_id=1, conversation_id=1, provider_id=f"p/m{id}", label=f"M{id}", status=AnswerStatus.PENDING
    )
    base.update(kw)
    return Answer(**base)


def batch(id: int = 1, answers: tuple[Answer, ...] | None = None) -> Batch:
    return Batch(
        id=id,
        conversation_id=1,
        message_id=1,
        workspace=WS,
        channel="C1",
        thread=None,
        asker="U1",
        question="q",
        status=BatchStatus.RUNNING,
        answers=answers if answers is not None else (answer(1, batch_id=id), answer(2, batch_id=id)),
    )


def done(a: Answer, **kw: Any) -> Answer:
    return replace(a, status=AnswerStatus.COMPLETED, content="x", summary="x", **kw)


class FakeCore:
    def __init__(self) -> None:
        self.stored: dict[tuple[str, int], MessageRef] = {}
        self.batches: dict[int, Batch] = {}
        self.calls: list[tuple[Any, ...]] = []

    async def get_batch(self, batch_id: int, workspace: WorkspaceRef) -> Batch:
        return self.batches[batch_id]

    async def message_for(self, workspace: WorkspaceRef, kind: str, target_id: int) -> MessageRef | None:
        return self.stored.get((kind, target_id))

    async def cards_posted(
        self,
        workspace: WorkspaceRef,
        refs: Sequence[tuple[str, int, MessageRef]],
        *,
        conversation_id: int | None = None,
        thread: str | None = None,
    ) -> None:
        self.calls.append(("cards_posted", len(refs), thread))
        self.stored.update({(kind, target): ref for kind, target, ref in refs})

    async def batch_delivered(self, batch_id: int) -> None:
        self.calls.append(("delivered", batch_id))


class FakeSurface:
    def __init__(self) -> None:
        self.shown: list[tuple[str, int, bool, str | None]] = []  # (what, id, optional, state)

    async def show_card(self, live: LiveBatch, answer_id: int, *, optional: bool = False) -> None:
        view = live.view(answer_id)
        self.shown.append(("card", answer_id, optional, view.state.value if view else None))

    async def show_question(self, live: LiveBatch, *, optional: bool = False) -> None:
        self.shown.append(("question", live.batch.id, optional, None))

    async def post_card(self, live: LiveBatch, view: CardView) -> MessageRef | None:
        self.shown.append(("posted", view.answer.id, False, view.state.value))
        return MessageRef("C1", f"9.{view.answer.id}")

    async def recover(self, live: LiveBatch) -> None:
        """As a platform would: the card of answer 2 was posted before the kill, its ref not stored."""
        self.shown.append(("recovered", live.batch.id, False, None))
        live.question = live.question or MessageRef("C1", "8.0")
        live.thread = live.thread or live.question.message_id
        live.cards.setdefault(2, MessageRef("C1", "8.2"))

    async def settled(self, live: LiveBatch) -> None:
        self.shown.append(("settled", live.batch.id, False, None))


SLACK_LIKE = Pacing(preview_every=3.0)


def setup(pacing: Pacing = SLACK_LIKE) -> tuple[LiveBatches, FakeCore, FakeSurface]:
    core, surface = FakeCore(), FakeSurface()
    return LiveBatches(core, surface, pacing), core, surface


async def post_all(batches: LiveBatches, live: LiveBatch, *, between: Any = None) -> list[str]:
    posted: list[str] = []

    async def post(view: CardView) -> MessageRef:
        posted.append(view.state.value)
        if between is not None:
            await between()
        return MessageRef("C1", f"1.{view.answer.id}")

    live.question = MessageRef("C1", "1.0")
    await batches.post_cards(live, post, new_thread="1.0")
    return posted


async def test_events_before_tracking_are_folded_in_when_tracked() -> None:
    batches, _, surface = setup()
    first = batch()
    await batches.on_event(AnswerReady(done(first.answers[0])))
    assert surface.shown == [] and not batches.batches  # kept, nothing shown
    live = batches.track(first)
    assert live.answer(1).status is AnswerStatus.COMPLETED  # type: ignore[union-attr]
    assert await post_all(batches, live) == ["done", "waiting"]  # posted in its latest state


async def test_events_while_posting_are_shown_once_posting_ends_and_each_message_is_stored_as_posted() -> None:
    batches, core, surface = setup()
    live = batches.track(batch())

    async def an_answer_arrives() -> None:
        if not surface.shown and live.answer(2).status is AnswerStatus.PENDING:  # type: ignore[union-attr]
            await batches.on_event(AnswerReady(done(live.batch.answers[1])))

    assert await post_all(batches, live, between=an_answer_arrives) == ["waiting", "done"]
    # the question with the thread it started, then each card the moment it exists
    assert core.calls == [("cards_posted", 1, "1.0"), ("cards_posted", 1, None), ("cards_posted", 1, None)]
    assert surface.shown == [("question", 1, False, None)]  # card 2 was posted final: nothing more to show
    live2 = batches.track(batch(2, (answer(5, batch_id=2),)))

    async def late() -> None:
        await batches.on_event(AnswerReady(done(live2.batch.answers[0])))

    surface.shown.clear()
    assert await post_all(batches, live2, between=late) == ["waiting"]
    assert surface.shown == [("card", 5, False, "done"), ("question", 2, False, None)]


async def test_streamed_text_waits_a_moment_then_refreshes_at_its_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(live_module.time, "monotonic", lambda: clock[0])
    batches, _, surface = setup(Pacing(preview_every=3.0, first_preview_after=1.0, together=0))
    live = batches.track(batch())
    await post_all(batches, live)
    surface.shown.clear()
    running = replace(live.batch.answers[0], status=AnswerStatus.RUNNING)
    await batches.on_event(AnswerStarted(running))
    for at, text in ((100.2, "a"), (100.9, "ab"), (101.3, "abc"), (103.0, "abcd"), (104.4, "abcde")):
        clock[0] = at
        await batches.on_event(AnswerProgress(running, text))
    assert surface.shown == [("card", 1, True, "writing"), ("card", 1, True, "writing")]  # at 101.3 and 104.4
    await batches.on_event(AnswerReady(done(running)))
    await batches.settle()  # every finished answer's pending show has run
    assert surface.shown[-2:] == [("card", 1, False, "done"), ("question", 1, True, None)]  # 2 still waiting


async def test_a_ranking_for_a_batch_posted_before_a_restart_restores_it() -> None:
    batches, core, surface = setup()
    old = batch(7, (done(answer(70, batch_id=7), score=9.0, rank=1),))
    await batches.on_event(BatchRanked(old))  # unknown here, nothing stored: kept as early
    assert not batches.batches
    core.stored.update({("batch", 7): MessageRef("C1", "5.0"), ("answer", 70): MessageRef("C1", "5.1")})
    await batches.on_event(BatchRanked(old))
    restored = batches.batches[7]
    assert restored.question == MessageRef("C1", "5.0") and restored.cards == {70: MessageRef("C1", "5.1")}
    assert surface.shown == [("card", 70, False, "done"), ("question", 7, False, None)]


async def test_a_click_on_a_batch_this_process_never_saw_finds_it_in_the_store() -> None:
    batches, core, surface = setup()
    old = batch(8, (done(answer(80, batch_id=8)),))
    core.batches[8] = old
    core.stored[("answer", 80)] = MessageRef("C1", "6.1")
    live = await batches.live(8, WS)
    await batches.apply(live, replace(old.answers[0], is_expanded=True))
    assert surface.shown == [("card", 80, False, "done"), ("question", 8, False, None)]
    assert live.answer(80).is_expanded  # type: ignore[union-attr]


async def test_the_recent_batch_cache_and_the_early_events_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_module, "KEEP_BATCHES", 3)
    monkeypatch.setattr(live_module, "KEEP_EARLY", 2)
    batches, _, _ = setup()
    for number in range(1, 6):
        batches.track(batch(number))
    assert list(batches.batches) == [3, 4, 5]
    for number in range(10, 14):
        await batches.on_event(AnswerStarted(answer(1, batch_id=number)))
    assert list(batches._early) == [12, 13]


async def test_posting_that_fails_still_releases_waiters() -> None:
    batches, _, _ = setup()
    live = batches.track(batch())

    async def refused(view: CardView) -> MessageRef:
        raise RuntimeError("not_in_channel")

    with pytest.raises(RuntimeError):
        await batches.post_cards(live, refused)
    await asyncio.wait_for(live.posted.wait(), 1)


async def until(check: Any) -> None:
    """Poll until `check()` holds (state-based waiting; no timing is asserted)."""
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


async def test_the_last_answer_is_shown_with_the_ranking_that_follows_it() -> None:
    batches, _, surface = setup(Pacing(preview_every=3.0, together=0, rank_wait=60))
    live = batches.track(batch())
    await post_all(batches, live)
    surface.shown.clear()
    first, last = (done(a) for a in live.batch.answers)
    await batches.on_event(AnswerReady(first))  # another model is still answering: shown
    await batches.settle()
    assert surface.shown == [("card", 1, False, "done"), ("question", 1, True, None)]
    await batches.on_event(AnswerReady(last))  # the last one: its card waits for the ranking
    await until(lambda: bool(batches._showing))
    assert surface.shown[2:] == []
    ranked = replace(live.batch, answers=(replace(first, score=9.0, rank=1), replace(last, score=4.0, rank=2)))
    await batches.on_event(BatchRanked(ranked))
    await batches.settle()
    assert surface.shown[2:] == [("card", 1, False, "done"), ("card", 2, False, "done"), ("question", 1, False, None)]
    assert live.answer(2).score == 4.0  # type: ignore[union-attr]


async def test_the_last_answer_is_shown_anyway_when_no_ranking_comes() -> None:
    batches, _, surface = setup(Pacing(preview_every=3.0, together=0, rank_wait=0.01))
    live = batches.track(batch(answers=(answer(1),)))
    await post_all(batches, live)
    surface.shown.clear()
    await batches.on_event(AnswerReady(done(live.batch.answers[0])))
    await batches.settle()
    assert surface.shown == [("card", 1, False, "done"), ("question", 1, False, None)]


async def test_answers_that_finish_together_all_wait_for_the_ranking() -> None:
    batches, _, surface = setup(Pacing(preview_every=3.0, together=60, rank_wait=60))
    live = batches.track(batch())
    await post_all(batches, live)
    surface.shown.clear()
    first, last = (done(a) for a in live.batch.answers)
    await batches.on_event(AnswerReady(first))
    for _ in range(5):
        await asyncio.sleep(0)  # the other answer is stored a moment later
    await batches.on_event(AnswerReady(last))
    assert surface.shown == []
    await batches.on_event(
        BatchRanked(replace(live.batch, answers=(replace(first, score=9.0), replace(last, score=4.0))))
    )
    assert surface.shown == [("card", 1, False, "done"), ("card", 2, False, "done"), ("question", 1, False, None)]
    for task in batches._showing:
        task.cancel()  # each would find the ranking in and show nothing more


async def test_a_ranking_is_delivered_once_its_final_states_reached_the_platform() -> None:
    batches, core, surface = setup()
    live = batches.track(batch())
    await post_all(batches, live)
    assert ("delivered", 1) not in core.calls  # still answering: not delivered
    ranked = replace(live.batch, status=BatchStatus.COMPLETED, answers=tuple(done(a) for a in live.batch.answers))
    surface.shown.clear()
    await batches.on_event(BatchRanked(ranked))
    assert surface.shown[-1] == ("settled", 1, False, None)  # the edits were sent before it counts as delivered
    assert core.calls[-1] == ("delivered", 1)


async def test_a_batch_ranked_while_its_cards_were_posted_is_delivered_when_posting_ends() -> None:
    batches, core, _ = setup()
    live = batches.track(batch())

    async def ranked_meanwhile() -> None:
        if live.batch.status is BatchStatus.RUNNING:
            finished = tuple(done(a) for a in live.batch.answers)
            await batches.on_event(BatchRanked(replace(live.batch, status=BatchStatus.COMPLETED, answers=finished)))

    await post_all(batches, live, between=ranked_meanwhile)
    assert core.calls[-1] == ("delivered", 1)


async def test_an_adopted_batch_finds_what_was_posted_posts_what_was_not_and_shows_the_rest() -> None:
    batches, core, surface = setup()
    core.stored[("answer", 1)] = MessageRef("C1", "8.1")  # stored before the kill; card 2's ref and the question not
    finished = replace(batch(), status=BatchStatus.COMPLETED, answers=(done(answer(1)), done(answer(2)), answer(3)))
    finished = replace(finished, answers=(*finished.answers[:2], done(answer(3))))
    await batches.on_event(BatchResumed(finished))
    live = batches.batches[1]
    assert live.cards == {1: MessageRef("C1", "8.1"), 2: MessageRef("C1", "8.2"), 3: MessageRef("C1", "9.3")}
    assert [entry[:2] for entry in surface.shown if entry[0] in ("recovered", "posted")] == [
        ("recovered", 1),
        ("posted", 3),  # only the card never posted
    ]
    assert {("card", 1), ("card", 2), ("card", 3), ("question", 1)} <= {entry[:2] for entry in surface.shown}
    assert core.stored[("batch", 1)] == MessageRef("C1", "8.0")
    assert core.stored[("answer", 2)] == MessageRef("C1", "8.2")
    assert ("cards_posted", 2, "8.0") in core.calls  # what was found, with the thread it started
    assert core.calls[-1] == ("delivered", 1)


async def test_events_of_an_adopted_batch_that_still_runs_show_on_its_rebuilt_cards() -> None:
    batches, core, surface = setup()
    running = batch()
    await batches.on_event(BatchResumed(running))
    assert batches.batches[1].posted.is_set() and ("delivered", 1) not in core.calls
    surface.shown.clear()
    await batches.on_event(AnswerReady(done(running.answers[0])))
    await batches.settle()
    assert ("card", 1, False, "done") in surface.shown
