"""A batch stays leased until its cards are delivered; one whose process died before that is adopted
by the next process serving its platform, which is told to rebuild its cards (BatchResumed).
Batches ranked or delivered together are written together."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import event, update

from core.bulk_writer import BulkWriter
from core.domain import AnswerStatus, BatchStatus, Platform, Question, WorkspaceRef
from core.events import BatchRanked, BatchResumed, Event
from core.store.leases import Closing
from core.store.tables import AiResponse, RequestBatch, utcnow
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


async def test_batches_ranked_together_are_closed_in_one_statement_each_by_its_own_rules(
    database_url: str, make_core: MakeCore, llm_server: FakeLLMServer
) -> None:
    """Only batches this process holds, with no retried answer waiting, are closed; one ranked
    without a new ranking (only a merge ran) keeps its consensus line."""
    core = await make_core(database_url=database_url)
    batches = [await core.service.ask(Question(TEAM, "C1", "U1", f"Question {n}?")) for n in range(4)]
    for batch in batches:
        await core.service.wait_for_batch(batch.id, TEAM)
    held, elsewhere, retried, merged = (b.id for b in batches)
    async with core.store.write() as repo:
        for batch_id, owner in (
            (held, core.fanout.owner),
            (elsewhere, "another-process"),
            (retried, core.fanout.owner),
        ):
            await repo.session.execute(
                update(RequestBatch)
                .where(RequestBatch.id == batch_id)
                .values(status=BatchStatus.RUNNING, consensus=None, lease_owner=owner)
            )
        await repo.session.execute(
            update(RequestBatch)
            .where(RequestBatch.id == merged)
            .values(status=BatchStatus.RUNNING, consensus="Kept.", lease_owner=core.fanout.owner)
        )
        await repo.session.execute(
            update(AiResponse).where(AiResponse.id == batches[2].answers[0].id).values(status=AnswerStatus.PENDING)
        )
    statements: list[str] = []
    event.listen(core.store.engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    closing = [
        Closing(held, BatchStatus.COMPLETED, "All agree.", False),
        Closing(elsewhere, BatchStatus.COMPLETED, "Not ours.", False),
        Closing(retried, BatchStatus.COMPLETED, "Too early.", False),
        Closing(merged, BatchStatus.PARTIAL, "Ignored.", True, rescore=False),
    ]
    async with core.store.write() as repo:
        closed = await repo.leases.finish(core.fanout.owner, closing)
    assert closed == {held, merged}
    assert len([s for s in statements if s.startswith("UPDATE request_batches")]) == 1
    async with core.store.read() as repo:
        rows = {b: await repo.session.get(RequestBatch, b) for b in (held, elsewhere, retried, merged)}
    shown = {b: (row.status, row.consensus, row.disagree) for b, row in rows.items() if row is not None}
    assert shown == {
        held: (BatchStatus.COMPLETED, "All agree.", False),
        elsewhere: (BatchStatus.RUNNING, None, False),
        retried: (BatchStatus.RUNNING, None, False),
        merged: (BatchStatus.PARTIAL, "Kept.", False),
    }


async def test_a_bulk_writer_writes_what_arrives_together_in_one_transaction_and_a_refusal_alone(
    make_core: MakeCore,
) -> None:
    core = await make_core()
    groups: list[list[int]] = []

    async def write_all(_repo: object, items: Sequence[int]) -> list[int]:
        groups.append(list(items))
        if 13 in items:
            raise ValueError("refused")
        return [item * 2 for item in items]

    writer = BulkWriter[int, int](core.store, write_all)
    assert await asyncio.gather(*(writer.write(n) for n in (1, 2, 3))) == [2, 4, 6]
    results = await asyncio.gather(*(writer.write(n) for n in (4, 13, 5)), return_exceptions=True)
    assert results[0] == 8 and isinstance(results[1], ValueError) and results[2] == 10
    assert groups == [[1, 2, 3], [4, 13, 5], [4], [13], [5]]  # the group failed: each alone
