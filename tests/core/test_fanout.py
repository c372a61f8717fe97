"""The fan-out's events, isolation between models, and cost."""

from __future__ import annotations

import asyncio
import itertools
import signal
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from core.domain import AnswerStatus, Platform, Question, WorkspaceRef
from core.events import (
    AnswerFailed,
    AnswerProgress,
    AnswerReady,
    AnswerStarted,
    BatchRanked,
    Event,
    ProgressThrottle,
)
from core.ranking.rows import model_names
from core.store.finished_rows import FinishedAnswer
from core.store.tables import AiResponse, RequestBatch
from tests.conftest import MakeCore
from tests.fakes.llm_server import FakeLLMServer, Ok, unauthorized

TEAM = WorkspaceRef(Platform.DISCORD, "G1")


async def ask_and_watch(core, text: str):  # type: ignore[no-untyped-def]
    """Ask `text` and wait for the batch; the batch as asked, and every event the platform saw."""
    seen: list[Event] = []

    async def sink(event: Event) -> None:
        seen.append(event)

    core.service.subscribe(Platform.DISCORD, sink)
    batch = await core.service.ask(Question(TEAM, "C1", "U1", text))
    await core.service.wait_for_batch(batch.id, TEAM)
    return batch, seen


async def test_events_per_answer_then_one_batch_ranked_last(make_core: MakeCore, llm_server: FakeLLMServer) -> None:
    core = await make_core()
    llm_server.script("chat", [Ok("A long streamed answer " * 20, chunks=8, chunk_delay=0.05)], model="gpt-test")
    llm_server.script("messages", [unauthorized("anthropic")], model="claude-test")
    batch, seen = await ask_and_watch(core, "Tell me a story")

    assert isinstance(seen[-1], BatchRanked) and sum(isinstance(e, BatchRanked) for e in seen) == 1
    for answer in batch.answers:
        mine = [e for e in seen if not isinstance(e, BatchRanked) and e.answer.id == answer.id]
        assert isinstance(mine[0], AnswerStarted)
        assert sum(isinstance(e, AnswerReady | AnswerFailed) for e in mine) == 1
        assert isinstance(mine[-1], AnswerReady | AnswerFailed)
    progress = [e for e in seen if isinstance(e, AnswerProgress) and e.answer.provider_id == "openai/gpt-test"]
    assert len(progress) >= 2  # the streamed answer showed up while it was written
    assert all(len(a.text) <= len(b.text) for a, b in itertools.pairwise(progress))
    failed = [e for e in seen if isinstance(e, AnswerFailed)]
    assert [e.answer.provider_id for e in failed] == ["anthropic/claude-test"]
    assert failed[0].answer.error and "key" in failed[0].answer.error.lower()


async def test_a_slow_model_never_holds_back_the_others(make_core: MakeCore, llm_server: FakeLLMServer) -> None:
    core = await make_core()
    release = asyncio.Event()
    llm_server.script("messages", [Ok("slow but sure", gate=release)], model="claude-test")
    ready = asyncio.Event()
    answered: list[str] = []

    async def sink(event: Event) -> None:
        if isinstance(event, AnswerReady):
            answered.append(event.answer.provider_id)
            if len(answered) == 2:
                ready.set()

    core.service.subscribe(Platform.DISCORD, sink)
    batch = await core.service.ask(Question(TEAM, "C1", "U1", "Who is fastest?"))
    await asyncio.wait_for(ready.wait(), 10)  # two answers arrive while the third is still held
    assert sorted(answered) == ["ollama/llama-test", "openai/gpt-test"]
    release.set()
    done = await core.service.wait_for_batch(batch.id, TEAM)
    assert all(a.status == AnswerStatus.COMPLETED for a in done.answers)


async def test_a_failing_subscriber_never_breaks_the_batch(make_core: MakeCore) -> None:
    core = await make_core()
    received: list[Event] = []

    async def broken(event: Event) -> None:
        raise RuntimeError("adapter bug")

    async def healthy(event: Event) -> None:
        received.append(event)

    other_platform: list[Event] = []

    async def slack(event: Event) -> None:
        other_platform.append(event)

    core.service.subscribe(Platform.DISCORD, broken)
    core.service.subscribe(Platform.DISCORD, healthy)
    core.service.subscribe(Platform.SLACK, slack)
    batch = await core.service.ask(Question(TEAM, "C1", "U1", "Still fine?"))
    done = await core.service.wait_for_batch(batch.id, TEAM)
    assert all(a.status == AnswerStatus.COMPLETED for a in done.answers)
    assert isinstance(received[-1], BatchRanked)
    assert other_platform == []  # events go to the conversation's platform only


async def test_cost_from_the_price_table_and_unknown_is_not_zero(
    make_core: MakeCore, llm_server: FakeLLMServer
) -> None:
    core = await make_core(consensus_prices={"openai/gpt-test": (1.0, 2.0)})
    llm_server.script("chat", [Ok("priced", tokens_in=1000, tokens_out=500)], model="gpt-test")
    batch = await core.service.ask(
        Question(TEAM, "C1", "U1", "How much?", models=("openai/gpt-test", "ollama/llama-test"))
    )
    done = {a.provider_id: a for a in (await core.service.wait_for_batch(batch.id, TEAM)).answers}
    assert done["openai/gpt-test"].cost_usd == 0.002
    assert done["ollama/llama-test"].cost_usd is None


async def test_progress_is_throttled_and_the_newest_text_is_published_when_the_interval_ends() -> None:
    shown: list[str] = []

    async def publish(text: str) -> None:
        shown.append(text)

    throttle = ProgressThrottle(publish, interval=0.5)  # ten times what a loaded machine may lag
    for text in ("a", "ab", "abc"):
        await throttle(text)
    assert shown == ["a"]  # the first delta at once, the next ones wait for the interval
    await asyncio.sleep(1.5)  # "abc" went out at 0.5 s; by now a whole interval has passed since
    assert shown == ["a", "abc"]  # the newest text, not every delta
    await throttle("abcd")
    await throttle("abcde")
    await throttle.aclose()  # the finished answer follows: what still waits is dropped
    await asyncio.sleep(1.0)
    await throttle("abcdef")
    assert shown == ["a", "abc", "abcd"]


async def test_closing_lets_a_publication_under_way_finish_first() -> None:
    shown: list[str] = []
    gate = asyncio.Event()

    async def publish(text: str) -> None:
        await gate.wait()
        shown.append(text)

    throttle = ProgressThrottle(publish, interval=0.0)
    sending = asyncio.create_task(throttle("a"))
    await asyncio.sleep(0)
    closing = asyncio.create_task(throttle.aclose())
    gate.set()
    await asyncio.gather(sending, closing)
    assert shown == ["a"]


async def test_a_streamed_answer_sends_few_progress_events(make_core: MakeCore, llm_server: FakeLLMServer) -> None:
    core = await make_core(models=("openai/gpt-test",))
    text = "word " * 200
    llm_server.script("chat", [Ok(text, chunks=40, chunk_delay=0.01)], model="gpt-test")
    _, seen = await ask_and_watch(core, "Stream it")
    progress = [e.text for e in seen if isinstance(e, AnswerProgress)]
    assert 1 <= len(progress) < 10  # ~0.4 s of streaming at most one update per 0.25 s, not 40
    assert all(len(a) < len(b) for a, b in itertools.pairwise(progress))
    assert isinstance(seen[-2], AnswerReady) and seen[-2].answer.content == text.strip()


async def test_answers_finishing_together_are_stored_together_and_counted(
    database_url: str, make_core: MakeCore
) -> None:
    core = await make_core(database_url=database_url)
    batches = await asyncio.gather(*(core.service.ask(Question(TEAM, "C1", "U1", f"Question {i}")) for i in range(6)))
    done = [await core.service.wait_for_batch(b.id, TEAM) for b in batches]
    assert all(a.status == AnswerStatus.COMPLETED and a.content for d in done for a in d.answers)
    async with core.store.read() as repo:
        counted = dict((await repo.session.execute(select(RequestBatch.id, RequestBatch.completed))).all())
        owners = set(await repo.session.scalars(select(RequestBatch.lease_owner)))
    assert counted == {b.id: len(b.answers) for b in batches}
    assert owners == {None}
    history = await core.service.history(TEAM, "Question")
    assert len(history) == 6


async def test_waiting_for_a_batch_whose_run_has_just_ended_returns(make_core: MakeCore) -> None:
    """Its run ended, and the callback that forgets it has not run yet: waiting must let it run. A
    wait that does not yield spins forever, so an alarm breaks into it."""
    fanout = (await make_core()).fanout

    async def nothing_to_do() -> None:
        return None

    def spun(*_: object) -> None:
        raise TimeoutError("wait() spun without letting the event loop run")

    fanout._launch(1, nothing_to_do())
    await asyncio.sleep(0)  # the run ends here; forgetting it is the next thing the loop does
    previous = signal.signal(signal.SIGALRM, spun)
    signal.setitimer(signal.ITIMER_REAL, 2.0)
    try:
        await fanout.wait(1)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert fanout.in_flight == 0


async def test_an_answer_of_a_batch_taken_over_is_not_stored(database_url: str, make_core: MakeCore) -> None:
    core = await make_core(database_url=database_url)
    batch = await core.service.ask(Question(TEAM, "C1", "U1", "Whose is it?"))
    await core.service.wait_for_batch(batch.id, TEAM)
    ours, taken = batch.answers[0], batch.answers[1]
    async with core.store.write() as repo:  # the batch now belongs to another process
        other = await repo.session.get(RequestBatch, batch.id)
        assert other is not None
        other.lease_owner = "elsewhere"

    def finished(answer_id: int, batch_id: int) -> FinishedAnswer:
        return FinishedAnswer(
            answer_id=answer_id,
            batch_id=batch_id,
            workspace_id=1,
            conversation_id=batch.conversation_id,
            succeeded=False,
            values={"status": "failed", "error": "late"},
        )

    async with core.store.write() as repo:
        stored = await repo.finished.store_answers("elsewhere", [finished(ours.id, batch.id)])
        refused = await repo.finished.store_answers(core.fanout.owner, [finished(taken.id, batch.id)])
    assert set(stored) == {ours.id} and refused == {}
    async with core.store.read() as repo:
        statuses = dict(
            (
                await repo.session.execute(
                    select(AiResponse.id, AiResponse.status).where(AiResponse.batch_id == batch.id)
                )
            ).all()
        )
    assert statuses[ours.id] == "failed" and statuses[taken.id] == "completed"


@pytest.mark.parametrize("count", [1, 3])
async def test_a_write_the_database_refuses_fails_only_its_own_answer(make_core: MakeCore, count: int) -> None:
    core = await make_core()
    batch = await core.service.ask(Question(TEAM, "C1", "U1", "Refused?"))
    await core.service.wait_for_batch(batch.id, TEAM)
    async with core.store.write() as repo:
        await repo.session.execute(RequestBatch.__table__.update().values(lease_owner=core.fanout.owner))

    def finished(answer_id: int, status: str) -> FinishedAnswer:
        return FinishedAnswer(
            answer_id=answer_id,
            batch_id=batch.id,
            workspace_id=1,
            conversation_id=batch.conversation_id,
            succeeded=False,
            values={"status": status, "error": "rewritten"},
        )

    good = [finished(a.id, "failed") for a in batch.answers[1:count]]
    bad = finished(batch.answers[0].id, "not a status")  # the check constraint refuses it
    results = await asyncio.gather(
        *(core.fanout.answer_writer.write(item) for item in [bad, *good]), return_exceptions=True
    )
    assert isinstance(results[0], Exception)
    assert all(not isinstance(r, BaseException) and r is not None for r in results[1:])


def test_the_consensus_line_calls_each_model_by_its_label_and_adds_the_model_where_two_share_one() -> None:
    answers = [
        SimpleNamespace(id=1, label="OpenAI", model="gpt-5-mini"),
        SimpleNamespace(id=2, label="OpenAI", model="o4-mini"),
        SimpleNamespace(id=3, label="Anthropic", model="claude-sonnet-4-5"),
    ]
    assert model_names(answers) == {"1": "OpenAI gpt-5-mini", "2": "OpenAI o4-mini", "3": "Anthropic"}


async def test_a_question_claims_its_batch_in_its_own_transaction(
    database_url: str, make_core: MakeCore, llm_server: FakeLLMServer
) -> None:
    """Its model requests go out with no other write first (on SQLite, writers take turns)."""
    core = await make_core(database_url=database_url)
    opened: list[int] = []  # at each write transaction that opens: how many model requests arrived
    write = core.store.write

    def counting_write():  # type: ignore[no-untyped-def]
        opened.append(len(llm_server.calls))
        return write()

    core.store.write = counting_write  # type: ignore[method-assign]
    batch = await core.service.ask(Question(TEAM, "C1", "U1", "Who claims it?"))
    assert opened == [0]  # the question's own
    await core.service.wait_for_batch(batch.id, TEAM)
    assert len(opened) > 1 and all(opened[1:])  # the answers' and the ranking's: after a model request
    async with core.store.read() as repo:
        stored = await repo.session.get(RequestBatch, batch.id)
        answers = (await repo.session.scalars(select(AiResponse).where(AiResponse.batch_id == batch.id))).all()
    assert stored is not None and stored.started_at is not None
    assert all(a.started_at is not None and a.meta["key"] for a in answers)
