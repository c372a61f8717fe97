"""Stop: the answers still being written are cancelled at the provider (the fake sees its stream
closed), keep what arrived, say who stopped them, and are never stored as finished afterwards, by a
writer finishing at the same moment, after a restart, or on another replica. On both engines."""

from __future__ import annotations

import asyncio

import pytest

from bot.wiring import Core
from core.domain import Actor, Answer, AnswerStatus, Batch, Ending, Platform, Question, WorkspaceRef
from core.errors import InvalidQuestionError, PermissionDeniedError
from core.events import AnswerProgress, AnswerReady, Event
from tests.adapters.discord.helpers import eventually
from tests.conftest import MakeCore
from tests.fakes.llm_server import FakeLLMServer, Ok

TEAM = WorkspaceRef(Platform.DISCORD, "G1")
ASKER = Actor(TEAM, "U1")
SLOW = "gpt-test"  # the model held mid-answer in these tests
SLOW_TEXT = "First part of a long answer. " * 4 + "Second part that never arrives. " * 4


def hold(llm_server: FakeLLMServer, gate: asyncio.Event | None = None) -> None:
    """The slow model streams its first two deltas, then holds the stream open (or, with `gate`,
    waits before answering at all, then answers whole)."""
    step = Ok(SLOW_TEXT, chunks=4, gate=gate) if gate else Ok(SLOW_TEXT, chunks=4, hold_after=2)
    llm_server.script("chat", [step], model=SLOW)


async def ask_watching(core: Core, events: list[Event]) -> Batch:
    async def sink(event: Event) -> None:
        events.append(event)

    core.service.subscribe(Platform.DISCORD, sink)
    return await core.service.ask(Question(TEAM, "C1", "U1", "Tell me everything"))


def slow_answer(batch: Batch) -> Answer:
    return next(a for a in batch.answers if a.provider_id == f"openai/{SLOW}")


def quick_done(events: list[Event]) -> bool:
    """The two other models answered (so that a stop concerns only the slow one)."""
    return sum(isinstance(e, AnswerReady) for e in events) == 2


def progressed(events: list[Event]) -> bool:
    return any(isinstance(e, AnswerProgress) and e.answer.provider_id == f"openai/{SLOW}" for e in events)


async def asked_while_the_slow_model_writes(core: Core, llm_server: FakeLLMServer, events: list[Event]) -> Batch:
    """A question whose quick models have answered and whose slow one has sent its first text, and
    then holds its stream open."""
    hold(llm_server)
    asked = await ask_watching(core, events)
    await eventually(lambda: progressed(events) and quick_done(events), "the slow model's first text")
    return asked


@pytest.fixture
async def core(database_url: str, make_core: MakeCore) -> Core:
    return await make_core(database_url=database_url)


async def test_stop_closes_the_stream_keeps_what_arrived_and_ranks_the_rest(
    core: Core, llm_server: FakeLLMServer
) -> None:
    events: list[Event] = []
    asked = await asked_while_the_slow_model_writes(core, llm_server, events)

    shown = await core.service.stop(asked.id, ASKER)

    await llm_server.wait_until(lambda: SLOW in llm_server.closed_by_client, "the stream closed by the client")
    assert slow_answer(shown).is_stopped and slow_answer(shown).stopped_by == "U1"
    batch = await core.service.wait_for_batch(asked.id, TEAM)
    stopped = slow_answer(batch)
    assert stopped.status is AnswerStatus.COMPLETED and stopped.ended == Ending.STOPPED
    assert stopped.stopped_by == "U1" and stopped.ending_note == "stopped by U1"
    assert stopped.content and "First part" in stopped.content and "never arrives" not in stopped.content
    # no usage came: the tokens used are estimated from what was sent and what arrived, not the whole answer
    assert stopped.tokens_in and 0 < (stopped.tokens_out or 0) < len(SLOW_TEXT) / 4
    assert stopped.rank is not None and (stopped.rank_reason or "").startswith("ranked on what arrived")
    assert all(a.rank is not None for a in batch.answers)  # the batch is ranked with what it has
    ready = [e.answer for e in events if isinstance(e, AnswerReady) and e.answer.id == stopped.id]
    assert [a.ended for a in ready] == [Ending.STOPPED] and ready[0].stopped_by == "U1"  # the card says so


async def test_only_the_asker_or_an_admin_stops_and_a_finished_question_has_nothing_to_stop(
    core: Core, llm_server: FakeLLMServer
) -> None:
    events: list[Event] = []
    asked = await asked_while_the_slow_model_writes(core, llm_server, events)
    with pytest.raises(PermissionDeniedError):
        await core.service.stop(asked.id, Actor(TEAM, "U2"))
    assert not slow_answer(await core.service.get_batch(asked.id, TEAM)).is_stopped
    await core.service.stop(asked.id, Actor(TEAM, "U9", is_admin=True))
    batch = await core.service.wait_for_batch(asked.id, TEAM)
    assert slow_answer(batch).stopped_by == "U9"
    with pytest.raises(InvalidQuestionError, match="Nothing to stop"):
        await core.service.stop(asked.id, ASKER)


async def test_a_model_finishing_as_the_stop_is_stored_is_stored_stopped(core: Core, llm_server: FakeLLMServer) -> None:
    """The stop is in the store, the call not cancelled yet (it was clicked on another replica): the
    model's whole answer arrives, and its writer must not store it as finished."""
    release = asyncio.Event()
    hold(llm_server, gate=release)
    events: list[Event] = []
    asked = await ask_watching(core, events)
    await eventually(lambda: quick_done(events), "the two quick answers")
    async with core.store.write() as repo:
        stopped = [row.id for row in await repo.stops.stop(asked.id, "U2")]
    release.set()
    assert stopped == [slow_answer(asked).id]
    batch = await core.service.wait_for_batch(asked.id, TEAM)
    answer = slow_answer(batch)
    assert answer.ended == Ending.STOPPED and answer.stopped_by == "U2"
    assert answer.content and "never arrives" in answer.content  # all of it had arrived: all of it kept


async def test_a_stop_on_another_replica_cancels_the_call_where_it_runs(
    database_url: str, make_core: MakeCore, llm_server: FakeLLMServer
) -> None:
    runner = await make_core(database_url=database_url)
    other = await make_core(database_url=database_url, migrate=False)
    events: list[Event] = []
    asked = await asked_while_the_slow_model_writes(runner, llm_server, events)

    await other.service.stop(asked.id, ASKER)  # nothing of it runs there: the runner must notice

    await llm_server.wait_until(lambda: SLOW in llm_server.closed_by_client, "the runner to close the stream")
    batch = await runner.service.wait_for_batch(asked.id, TEAM)
    stopped = slow_answer(batch)
    assert stopped.ended == Ending.STOPPED and stopped.content and "First part" in stopped.content
    assert batch.status.value in ("COMPLETED", "PARTIAL") and stopped.rank is not None


async def test_a_stopped_answer_whose_process_died_is_never_run_again(
    database_url: str, make_core: MakeCore, llm_server: FakeLLMServer
) -> None:
    first = await make_core(database_url=database_url)
    events: list[Event] = []
    asked = await asked_while_the_slow_model_writes(first, llm_server, events)
    await first.aclose()  # the process goes, its answer half written: the text dies with it
    second = await make_core(database_url=database_url, migrate=False)
    async with second.store.write() as repo:
        await repo.stops.stop(asked.id, "U1")  # stopped while nobody runs it

    assert await second.fanout.resume_orphans() == [asked.id]
    batch = await second.service.wait_for_batch(asked.id, TEAM)
    stopped = slow_answer(batch)
    assert stopped.status is AnswerStatus.FAILED and stopped.ended == Ending.STOPPED
    assert stopped.error == "Stopped; no text was kept." and stopped.ending_note == "stopped by U1; no text was kept"
    assert len(llm_server.requests("chat", model=SLOW)) == 1  # never asked again
    assert batch.status.value == "PARTIAL", [(a.provider_id, a.status, a.error) for a in batch.answers]


async def test_a_stopped_answer_can_be_retried_and_then_finishes(core: Core, llm_server: FakeLLMServer) -> None:
    events: list[Event] = []
    asked = await asked_while_the_slow_model_writes(core, llm_server, events)
    await core.service.stop(asked.id, ASKER)
    stopped = slow_answer(await core.service.wait_for_batch(asked.id, TEAM))

    llm_server.script("chat", [Ok("The whole answer this time.")], model=SLOW)
    retried = await core.service.retry(stopped.id, ASKER)
    assert retried.status is AnswerStatus.PENDING and retried.stopped_by is None and not retried.is_stopped
    answer = slow_answer(await core.service.wait_for_batch(asked.id, TEAM))
    assert answer.status is AnswerStatus.COMPLETED and answer.ended == Ending.COMPLETE
    assert answer.content == "The whole answer this time." and answer.stopped_by is None
    assert answer.rank is not None
