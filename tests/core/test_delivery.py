"""A batch stays leased until its cards are delivered; one whose process died before that is adopted
by the next process serving its platform, which is told to rebuild its cards (BatchResumed)."""

from __future__ import annotations

from datetime import timedelta

from core.domain import BatchStatus, Platform, Question, WorkspaceRef
from core.events import BatchRanked, BatchResumed, Event
from core.store.tables import RequestBatch, utcnow
from tests.conftest import MakeCore
from tests.fakes.llm_server import FakeLLMServer

TEAM = WorkspaceRef(Platform.DISCORD, "G1")


def recorder(seen: list[Event]):  # type: ignore[no-untyped-def]
    async def sink(event: Event) -> None:
        seen.append(event)

    return sink


async def lease_of(core, batch_id: int) -> tuple[str | None, object, object]:  # type: ignore[no-untyped-def]
    async with core.store.read() as repo:
        row = await repo.session.get(RequestBatch, batch_id)
        assert row is not None
        return row.lease_owner, row.lease_expires_at, row.delivered_at


async def test_a_ranked_batch_is_leased_until_delivered_and_adopted_when_its_process_died_first(
    database_url: str, make_core: MakeCore, llm_server: FakeLLMServer
) -> None:
    first = await make_core(database_url=database_url)
    seen: list[Event] = []
    first.service.subscribe(Platform.DISCORD, recorder(seen), delivers=True)
    batch = await first.service.ask(Question(TEAM, "C1", "U1", "Who shows the cards?"))
    await first.service.wait_for_batch(batch.id, TEAM)
    assert isinstance(seen[-1], BatchRanked)
    owner, until, delivered = await lease_of(first, batch.id)
    assert owner == first.fanout.owner and until is not None and delivered is None  # ranked, not yet shown

    async with first.store.write() as repo:  # its process dies before the cards show the ranking
        row = await repo.session.get(RequestBatch, batch.id)
        assert row is not None
        row.lease_owner, row.lease_expires_at = "a-dead-process", utcnow() - timedelta(seconds=1)
    asked = len(llm_server.calls)

    second = await make_core(database_url=database_url)
    rebuilt: list[Event] = []
    second.service.subscribe(Platform.DISCORD, recorder(rebuilt), delivers=True)
    assert await second.fanout.resume_orphans() == [batch.id]
    await second.service.wait_idle()
    [resumed] = rebuilt
    assert isinstance(resumed, BatchResumed) and resumed.batch.status is BatchStatus.COMPLETED
    assert {a.id for a in resumed.batch.answers} == {a.id for a in batch.answers}
    assert len(llm_server.calls) == asked  # nothing is asked again: only the cards are rebuilt
    assert (await lease_of(second, batch.id))[0] == second.fanout.owner

    await second.service.batch_delivered(batch.id)
    owner, until, delivered = await lease_of(second, batch.id)
    assert (owner, until) == (None, None) and delivered is not None
    assert await second.fanout.resume_orphans() == []  # delivered: nobody adopts it again


async def test_a_batch_no_one_here_delivers_is_handed_back_and_a_terminal_one_is_delivered_at_once(
    database_url: str, make_core: MakeCore
) -> None:
    core = await make_core(database_url=database_url)
    elsewhere = await core.service.ask(Question(TEAM, "C1", "U1", "Asked on Discord, served elsewhere"))
    printed = await core.service.ask(Question(WorkspaceRef(Platform.TERMINAL, "local"), "cli", "me", "Asked here"))
    await core.service.wait_idle()
    owner, until, delivered = await lease_of(core, elsewhere.id)
    assert owner is None and until is not None and delivered is None  # let go, already expired
    assert await core.fanout.resume_orphans() == []  # it is left for a process that serves Discord
    owner, until, delivered = await lease_of(core, printed.id)
    assert (owner, until) == (None, None) and delivered is not None
