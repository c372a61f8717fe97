"""Questions asked at the same moment, stored together where SQLite has one writer; each on its own
elsewhere. Either way every question is judged alone: a refused one takes back only what it wrote."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from core.domain import Actor, Batch, BatchStatus, MessageRef, Platform, Question, WorkspaceRef
from core.errors import DuplicateDeliveryError, RateLimitedError
from core.store.tables import Conversation
from tests.conftest import MakeCore

TEAM = WorkspaceRef(Platform.SLACK, "T1")
ADMIN = Actor(TEAM, "U-admin", is_admin=True)


def asked_by(user: str, text: str, delivery: str) -> Question:
    return Question(TEAM, "C1", user, text, delivery=delivery)


async def test_a_burst_is_stored_in_one_transaction_and_a_refusal_takes_back_only_its_own(
    database_url: str, make_core: MakeCore
) -> None:
    core = await make_core(database_url=database_url, consensus_questions_per_minute=2)
    service, store = core.service, core.store
    commits: list[int] = []
    event.listen(store.engine.sync_engine, "commit", lambda _conn: commits.append(1))
    burst = [
        asked_by("U1", "one", "d1"),
        asked_by("U1", "two", "d2"),
        asked_by("U1", "three, over the limit", "d3"),
        asked_by("U2", "four", "d4"),
        asked_by("U2", "four, delivered again", "d4"),
    ]
    if store.single_writer:  # hold the writer until all five wait for it: one group, deterministically
        async with store.write():
            asking = [asyncio.ensure_future(service.ask(q)) for q in burst]
            while service.writes.waiting < len(burst):  # noqa: ASYNC110 (a count, not an event)
                await asyncio.sleep(0.01)
            commits.clear()
    else:
        asking = [asyncio.ensure_future(service.ask(q)) for q in burst]
    results = await asyncio.gather(*asking, return_exceptions=True)

    kinds = [type(r) for r in results]
    # which of U1's three is refused, and which "four" is the repeat, is the order they reached the writer
    assert sorted(k.__name__ for k in kinds) == ["Batch"] * 3 + ["DuplicateDeliveryError", "RateLimitedError"]
    assert RateLimitedError in kinds[:3] and DuplicateDeliveryError in kinds[3:]
    if store.single_writer:
        assert len(commits) == 1  # five questions, one commit
    stored = [q.text for q, r in zip(burst, results, strict=True) if isinstance(r, Batch)]
    async with store.read() as repo:
        titles = await repo.session.scalars(select(Conversation.title))
        assert sorted(titles) == sorted(stored)  # the refused question left nothing behind
    for batch in [r for r in results if isinstance(r, Batch)]:
        assert (await service.wait_for_batch(batch.id, TEAM)).status == BatchStatus.COMPLETED

    await service.set_limits(ADMIN, daily_budget_usd=None, questions_per_minute=10)
    refused = burst[kinds.index(RateLimitedError)]
    again = await service.ask(refused)  # its delivery was taken back with it: asked now
    assert again.question == refused.text
    with pytest.raises(DuplicateDeliveryError):
        await service.ask(burst[3])
    async with store.read() as repo:
        assert await repo.session.scalar(select(func.count()).select_from(Conversation)) == 4


async def test_messages_posted_at_once_are_stored_by_one_write(database_url: str, make_core: MakeCore) -> None:
    core = await make_core(database_url=database_url)
    service, store = core.service, core.store
    other = WorkspaceRef(Platform.DISCORD, "G2")
    asked = [await service.ask(asked_by("U1", f"question {n}", f"p{n}")) for n in range(3)]
    asked.append(await service.ask(Question(other, "C9", "U9", "elsewhere")))
    await service.wait_idle()
    commits: list[int] = []
    event.listen(store.engine.sync_engine, "commit", lambda _conn: commits.append(1))

    posted = [
        service.cards_posted(
            batch.workspace,
            [("batch", batch.id, MessageRef(batch.channel, f"{n}.0"))]
            + [("answer", a.id, MessageRef(batch.channel, f"{n}.{i + 1}")) for i, a in enumerate(batch.answers)],
            conversation_id=batch.conversation_id,
            thread=f"{n}.0",
        )
        for n, batch in enumerate(asked)
    ]
    await asyncio.gather(*posted)

    if store.single_writer:
        assert len(commits) == 1  # four questions' messages, two workspaces: one write
    for n, batch in enumerate(asked):
        assert await service.message_for(batch.workspace, "batch", batch.id) == MessageRef(batch.channel, f"{n}.0")
        last = batch.answers[-1]
        assert await service.message_for(batch.workspace, "answer", last.id) == MessageRef(
            batch.channel, f"{n}.{len(batch.answers)}"
        )
        assert await service.find_conversation(batch.workspace, batch.channel, f"{n}.0") == batch.conversation_id
    assert await service.message_for(other, "batch", asked[0].id) is None  # each in its own workspace


async def test_closing_writes_what_is_under_way_before_the_store_closes(
    database_url: str, make_core: MakeCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A card posted as the process stops is stored before the store closes, whether its write is
    queued (SQLite) or under way (PostgreSQL), and no write opens the store again afterwards (a
    connection nobody would close)."""
    core = await make_core(database_url=database_url)
    batch = await core.service.ask(asked_by("U1", "the last question", "last"))
    await core.service.wait_idle()
    posting: list[asyncio.Future[None]] = []
    close_registry = core.registry.aclose

    async def posted_while_stopping() -> None:
        ref = MessageRef(batch.channel, "9.0")
        posting.append(asyncio.ensure_future(core.service.cards_posted(batch.workspace, [("batch", batch.id, ref)])))
        await asyncio.sleep(0)  # queued
        await close_registry()

    monkeypatch.setattr(core.registry, "aclose", posted_while_stopping)
    await core.aclose()

    assert posting[0].done() and posting[0].exception() is None
    assert core.store.engine.pool.checkedin() == 0  # nothing opened after the close
    again = await make_core(database_url=database_url)
    assert await again.service.message_for(batch.workspace, "batch", batch.id) == MessageRef(batch.channel, "9.0")


async def test_a_group_s_rows_take_one_statement_per_table(tmp_path: Path, make_core: MakeCore) -> None:
    """SQLite: the questions of a group are checked one by one (each its own delivery claim, under its
    savepoint), then stored together: one INSERT per table, follow-ups in the right conversations."""
    core = await make_core(database_url=f"sqlite+aiosqlite:///{tmp_path}/rows.db")
    service, store = core.service, core.store
    first = await service.ask(asked_by("U1", "where it starts", "f0"))
    await service.wait_idle()
    burst = [asked_by(f"U{n}", f"new question {n}", f"n{n}") for n in range(2)]
    burst.append(Question(TEAM, "C1", "U2", "new question 2, in a thread", thread="1.5", delivery="n2"))
    statements: list[str] = []
    event.listen(store.engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    async with store.write():  # all five wait for the writer: one group
        asking = [asyncio.ensure_future(service.ask(q)) for q in burst]
        asking += [
            asyncio.ensure_future(service.follow_up(first.conversation_id, asked_by("U1", f"and then {n}?", f"u{n}")))
            for n in range(2)
        ]
        while service.writes.waiting < len(asking):  # noqa: ASYNC110 (a count, not an event)
            await asyncio.sleep(0.01)
        statements.clear()
    batches = await asyncio.gather(*asking)

    inserts = Counter(s.split()[2] for s in statements if s.startswith("INSERT"))
    assert inserts == {
        "processed_events": 5,  # each question's own, under its savepoint
        "conversations": 1,
        "messages": 1,
        "search_documents": 1,
        "request_batches": 1,
        "ai_responses": 1,
    }
    assert [b.question for b in batches] == [q.text for q in burst] + ["and then 0?", "and then 1?"]
    assert len({b.conversation_id for b in batches[:3]} | {first.conversation_id}) == 4
    assert await service.find_conversation(TEAM, "C1", "1.5") == batches[2].conversation_id
    assert {b.conversation_id for b in batches[3:]} == {first.conversation_id}
    for batch in batches:
        assert [a.provider_id for a in batch.answers] == [a.provider_id for a in first.answers]
        assert (await service.wait_for_batch(batch.id, TEAM)).status == BatchStatus.COMPLETED
    found = await service.history(TEAM, query="then")
    assert [c.id for c in found] == [first.conversation_id]  # the follow-ups are searchable
