"""The fan-out's events, isolation between models, and cost."""

from __future__ import annotations

import asyncio
import itertools

from core.domain import AnswerStatus, Platform, Question, WorkspaceRef
from core.events import AnswerFailed, AnswerProgress, AnswerReady, AnswerStarted, BatchRanked, Event
from tests.conftest import MakeCore
from tests.fakes.llm_server import FakeLLMServer, Ok, unauthorized

TEAM = WorkspaceRef(Platform.DISCORD, "G1")


async def test_events_per_answer_then_one_batch_ranked_last(make_core: MakeCore, llm_server: FakeLLMServer) -> None:
    core = await make_core()
    llm_server.script("chat", [Ok("A long streamed answer " * 20, chunks=8, chunk_delay=0.05)], model="gpt-test")
    llm_server.script("messages", [unauthorized("anthropic")], model="claude-test")
    seen: list[Event] = []

    async def sink(event: Event) -> None:
        seen.append(event)

    core.service.subscribe(Platform.DISCORD, sink)
    batch = await core.service.ask(Question(TEAM, "C1", "U1", "Tell me a story"))
    await core.service.wait_for_batch(batch.id, TEAM)

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
        make_core: MakeCore, llm_server: FakeLLMServer) -> None:
    core = await make_core(consensus_prices={"openai/gpt-test": (1.0, 2.0)})
    llm_server.script("chat", [Ok("priced", tokens_in=1000, tokens_out=500)], model="gpt-test")
    batch = await core.service.ask(Question(TEAM, "C1", "U1", "How much?", models=("openai/gpt-test",
                                                                                  "ollama/llama-test")))
    done = {a.provider_id: a for a in (await core.service.wait_for_batch(batch.id, TEAM)).answers}
    assert done["openai/gpt-test"].cost_usd == 0.002
    assert done["ollama/llama-test"].cost_usd is None
