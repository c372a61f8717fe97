"""Migrations, the SQLite settings, and search at scale, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, column, insert, inspect, table, text

from core.domain import Platform, WorkspaceRef
from core.store.migrate import alembic_config, downgrade, include_object, upgrade
from core.store.store import SCHEMA_REVISION, Store
from core.store.tables import Base, Conversation, Message, RequestBatch, SearchDocument, Workspace, utcnow


@pytest.fixture
async def store(database_url: str) -> Any:
    store = Store(database_url)
    yield store
    await store.aclose()


async def table_names(store: Store) -> set[str]:
    async with store.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_migrations_go_up_and_down_and_match_the_models(store: Store) -> None:
    await upgrade(store.engine)
    assert {"conversations", "ai_responses", "search_documents", "alembic_version"} <= await table_names(store)

    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"include_object": include_object, "compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with store.engine.connect() as conn:
        assert await conn.run_sync(differences) == []

    await downgrade(store.engine, "base")
    assert await table_names(store) <= {"alembic_version"}
    await upgrade(store.engine)  # and up again
    assert "ai_responses" in await table_names(store)


async def test_the_schema_revision_the_store_expects_is_alembics_head(store: Store) -> None:
    head = ScriptDirectory.from_config(alembic_config(store.url)).get_current_head()
    assert SCHEMA_REVISION == head
    assert await store.revision() is None
    await store.prepare(migrate=True)
    assert await store.revision() == head


async def test_sqlite_runs_in_wal_with_a_busy_timeout_and_foreign_keys(tmp_path: Any) -> None:
    store = Store(f"sqlite+aiosqlite:///{tmp_path}/nested/folder/db.sqlite")  # folders are created
    try:
        async with store.engine.connect() as conn:
            pragmas = {
                name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            }
        assert pragmas == {"journal_mode": "wal", "busy_timeout": 30000, "foreign_keys": 1}
    finally:
        await store.aclose()


async def test_search_finds_the_right_conversations_among_ten_thousand(store: Store) -> None:
    await upgrade(store.engine)
    topics = ["kubernetes", "sourdough", "tax", "guitar", "marathon", "compiler", "orchid", "mortgage"]
    now = utcnow()
    async with store.write() as repo:
        workspace = await repo.workspace_id(WorkspaceRef(Platform.SLACK, "T1"))
        other = await repo.workspace_id(WorkspaceRef(Platform.SLACK, "T2"))
        session = repo.session
        rows = [
            {
                "workspace_id": workspace,
                "channel": "C1",
                "thread_ref": str(i),
                "created_by": "U1",
                "title": f"Question {i} about {topics[i % len(topics)]}",
                "created_at": now,
                "updated_at": now,
                "archived": False,
            }
            for i in range(10_000)
        ]
        await session.execute(insert(Conversation), rows)
        ids = list((await session.scalars(text("SELECT id FROM conversations ORDER BY id"))).all())
        # The needle: one conversation whose answer, not its question, mentions a rare word.
        await session.execute(
            insert(Message),
            [
                {"conversation_id": cid, "author": "U1", "content": rows[n]["title"], "created_at": now, "metadata": {}}
                for n, cid in enumerate(ids)
            ],
        )
        docs = [
            {
                "workspace_id": workspace,
                "conversation_id": cid,
                "source": "question",
                "source_id": cid,
                "body": rows[n]["title"],
            }
            for n, cid in enumerate(ids)
        ]
        docs.append(
            {
                "workspace_id": workspace,
                "conversation_id": ids[4242],
                "source": "answer",
                "source_id": 1,
                "body": "Use a zeppelin-grade hydrostatic balance.",
            }
        )
        await session.execute(insert(SearchDocument), docs)
        # The same words in another workspace must never show up.
        await session.execute(insert(Conversation), [{**rows[0], "workspace_id": other, "title": "zeppelin orchid"}])
        other_id = await session.scalar(text("SELECT max(id) FROM conversations"))
        await session.execute(
            insert(SearchDocument),
            [
                {
                    "workspace_id": other,
                    "conversation_id": other_id,
                    "source": "question",
                    "source_id": 99_999,
                    "body": "zeppelin orchid",
                }
            ],
        )
    async with store.read() as repo:
        found = await repo.search(workspace, "zeppelin", 20, 0)
        assert [c.id for c, _ in found] == [ids[4242]]
        assert "zeppelin" in found[0][1]
        orchids = await repo.search(workspace, "orchid", 2000, 0)
        assert len(orchids) == 10_000 // len(topics)
        assert all("orchid" in c.title for c, _ in orchids)
        assert [c.id for c, _ in await repo.search(workspace, "question 777 about", 5, 0)] == [ids[777]]
        assert await repo.search(workspace, "", 5, 0) == []
    async with store.read() as repo:
        assert await repo.session.scalar(text("SELECT count(*) FROM workspaces")) == 2
        assert (await repo.session.get(Workspace, workspace)) is not None


async def test_an_upgrade_from_0004_moves_the_rankers_reason_out_of_the_why(store: Store) -> None:
    """Before 0005 the ranking overwrote each ranked answer's why with its own reason."""
    await upgrade(store.engine, "0004")
    now = utcnow()
    async with store.write() as repo:
        workspace = await repo.workspace_id(WorkspaceRef(Platform.SLACK, "T1"))
        session = repo.session
        conversation = await session.scalar(
            insert(Conversation)
            .values(workspace_id=workspace, channel="C1", created_by="U1", title="Q", created_at=now, updated_at=now)
            .returning(Conversation.id)
        )
        message = await session.scalar(
            insert(Message).values(conversation_id=conversation, author="U1", content="Q").returning(Message.id)
        )
        batch = await session.scalar(
            insert(RequestBatch)
            .values(conversation_id=conversation, message_id=message, expected=2)
            .returning(RequestBatch.id)
        )
        common = {"batch_id": batch, "message_id": message, "conversation_id": conversation, "label": "OpenAI"}
        flags = dict(attempts=1, is_selected=False, is_deleted=False, is_expanded=False, replaced_characters=False)
        for model, why, method in (("ranked", "Same answer (42) as 2 of 2.", "consensus"), ("pending", "Own.", None)):
            values = dict(
                **common,
                **flags,
                provider_id=model,
                model=model,
                status="completed",
                reasoning=why,
                score_method=method,
            )
            # only the columns 0004 has: the model class knows the later ones and would write them
            values.update(metadata={}, created_at=now, updated_at=now)
            columns = [column(name, JSON) if name == "metadata" else column(name) for name in values]
            await session.execute(insert(table("ai_responses", *columns)).values(**values))
    await upgrade(store.engine)
    rows = "SELECT model, reasoning, rank_reason FROM ai_responses ORDER BY model"
    async with store.engine.connect() as conn:
        assert (await conn.execute(text(rows))).all() == [
            ("pending", "Own.", None),
            ("ranked", None, "Same answer (42) as 2 of 2."),
        ]
    await downgrade(store.engine, "0004")
    async with store.engine.connect() as conn:
        back = await conn.execute(text("SELECT model, reasoning FROM ai_responses ORDER BY model"))
        assert back.all() == [("pending", "Own."), ("ranked", "Same answer (42) as 2 of 2.")]
