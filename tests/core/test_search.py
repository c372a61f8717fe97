"""Search through the full-text indexes of migration 0003 (FTS5 prefix indexes on SQLite, a stored
tsvector on PostgreSQL): prefixes, the newest-first walks against the set query, and the upgrade
of a database that already holds documents."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, text

from core.domain import Platform, WorkspaceRef
from core.store import search
from core.store.migrate import downgrade, upgrade
from core.store.store import Store
from core.store.tables import Conversation, SearchDocument, utcnow


@pytest.fixture
async def store(database_url: str) -> Any:
    store = Store(database_url)
    yield store
    await store.aclose()


async def add_conversations(store: Store, team: str, bodies: list[str], minutes: list[int] | None = None) -> list[int]:
    """One conversation per body (its question), updated `minutes[i]` after a fixed start."""
    start = utcnow() - timedelta(days=30)
    minutes = minutes if minutes is not None else list(range(len(bodies)))
    async with store.write() as repo:
        workspace = await repo.workspace_id(WorkspaceRef(Platform.SLACK, team))
        rows = [
            {
                "workspace_id": workspace,
                "channel": "C1",
                "thread_ref": str(i),
                "created_by": "U1",
                "title": body[:200],
                "created_at": start,
                "updated_at": start + timedelta(minutes=minute),
                "archived": False,
            }
            for i, (body, minute) in enumerate(zip(bodies, minutes, strict=True))
        ]
        first = await repo.session.scalar(text("SELECT coalesce(max(id), 0) FROM conversations"))
        await repo.session.execute(insert(Conversation), rows)
        ids = list(range(int(first) + 1, int(first) + 1 + len(rows)))
        await repo.session.execute(
            insert(SearchDocument),
            [
                {
                    "workspace_id": workspace,
                    "conversation_id": cid,
                    "source": "question",
                    "source_id": cid,
                    "body": body,
                }
                for cid, body in zip(ids, bodies, strict=True)
            ],
        )
    return ids


async def found(store: Store, team: str, query: str, limit: int = 20, offset: int = 0) -> list[int]:
    async with store.read() as repo:
        workspace = await repo.workspace_id(WorkspaceRef(Platform.SLACK, team))
        return [c.id for c, _snippet in await repo.search(workspace, query, limit, offset)]


async def test_the_last_word_matches_as_a_prefix_of_two_three_or_more_letters(store: Store) -> None:
    await upgrade(store.engine)
    ids = await add_conversations(
        store,
        "T1",
        [
            "the build timed out",
            "timber for the shed",
            "a timeout while building",
            "it is time to build",
            "tiny build steps",
            "unrelated question",
        ],
    )
    newest_first = ids[::-1]
    assert await found(store, "T1", "ti") == [i for i in newest_first if i != ids[5]]
    assert await found(store, "T1", "tim") == [ids[3], ids[2], ids[1], ids[0]]
    assert await found(store, "T1", "time") == [ids[3], ids[2], ids[0]]
    assert await found(store, "T1", "build tim") == [ids[3], ids[0]]  # "building" is not "build"
    assert await found(store, "T1", "buil tim") == []  # only the last word is a prefix
    assert await found(store, "T1", "t") == [i for i in newest_first if i != ids[5]]  # shorter than any prefix index


@pytest.mark.parametrize("every", [1, 2, 7, 60, 400])
async def test_walking_newest_first_finds_what_the_set_query_finds(store: Store, every: int) -> None:
    """Dense, large, near, far and sparse matches, and a page beyond the walks, with the
    conversations updated out of id order."""
    await upgrade(store.engine)
    count = 3000  # above SQLite's probe (2,000 documents) when every conversation matches
    rng = random.Random(every)
    minutes = rng.sample(range(count * 2), count)
    bodies = [f"question {n} about {'needle' if n % every == 0 else 'hay'}" for n in range(count)]
    ids = await add_conversations(store, "T1", bodies, minutes)
    await add_conversations(store, "T2", ["needle elsewhere"] * 50)  # never in T1's results
    matching = sorted(
        (cid for n, cid in enumerate(ids) if n % every == 0),
        key=lambda cid: (minutes[ids.index(cid)], cid),
        reverse=True,
    )
    for query in ("needle", "needl"):
        assert await found(store, "T1", query) == matching[:20]
        assert await found(store, "T1", query, 20, 40) == matching[40:60]
        assert await found(store, "T1", query, 20, 200) == matching[200:220]


async def test_the_postgresql_walk_takes_its_second_step_when_the_first_finds_the_match_near(store: Store) -> None:
    if store.dialect != "postgresql":
        pytest.skip("PostgreSQL's walk")
    await upgrade(store.engine)
    bodies = [f"question {n} about {'needle' if n % 50 == 0 else 'hay'}" for n in range(2000)]
    ids = await add_conversations(store, "T1", bodies)
    async with store.read() as repo:
        workspace = await repo.workspace_id(WorkspaceRef(Platform.SLACK, "T1"))
        params: dict[str, object] = {"ws": workspace, "q": "needle"}
        first_step = await search._pg_walk_step(repo.session, params, 0, search.PG_WALK_FIRST, 20)
        assert 0 < len(first_step) < 20  # near, but the first step alone does not fill the page
        walked = await search._pg_walk(repo.session, params, 20)
    assert walked is not None
    assert walked[0] == [cid for n, cid in enumerate(ids) if n % 50 == 0][::-1][:20]


async def test_an_upgrade_from_0002_keeps_existing_documents_searchable_and_in_step(store: Store) -> None:
    await upgrade(store.engine, "0002")
    old = await add_conversations(store, "T1", ["zeppelin hangar doors", "orchid care in winter"])
    await upgrade(store.engine)
    assert await found(store, "T1", "zeppe") == [old[0]]
    assert await found(store, "T1", "orchid") == [old[1]]

    # Writes after the upgrade keep the index in step: insert, update, delete.
    async with store.write() as repo:
        conversation = await repo.session.get(Conversation, old[1])
        assert conversation is not None
        await repo.index_text(conversation, "answer", 7, "water the orchid sparingly")
        await repo.index_text(conversation, "question", old[1], "cactus care in winter")
    assert await found(store, "T1", "cact") == [old[1]]
    assert await found(store, "T1", "orchid") == [old[1]]  # the answer still says it
    async with store.write() as repo:
        await repo.unindex("answer", [7])
    assert await found(store, "T1", "orchid") == []

    # And back down: the 0002 index still finds the documents; up again, search works.
    await downgrade(store.engine, "0002")
    async with store.engine.connect() as conn:
        match = (
            "SELECT rowid FROM search_documents_fts WHERE search_documents_fts MATCH 'zeppelin'"
            if store.dialect == "sqlite"
            else "SELECT id FROM search_documents WHERE to_tsvector('simple', body) @@ 'zeppelin'::tsquery"
        )
        assert len((await conn.execute(text(match))).all()) == 1
    await upgrade(store.engine)
    assert await found(store, "T1", "hangar") == [old[0]]
