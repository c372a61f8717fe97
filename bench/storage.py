"""Storage benchmark: history listing and full-text search over 100,000 conversations.

    python -m bench.storage [--quick] [--conversations N] [--repeats N] [--no-write]

Seeds a scratch database per engine (SQLite file, then a scratch PostgreSQL database, skipped
with the reason when the server does not answer) with bulk inserts of realistic rows: several
workspaces, ~20-word questions drawn from a Zipf vocabulary, some follow-ups, and stored answers
for a share of the questions. Then times `ConsensusService.history` in the biggest workspace:
the first page, a deep page, and searches for a rare word, a common word and a two-word prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.common import PostgresUnavailable, ms, p50, p95, scratch_postgres, table, write_section
from bot.settings import Settings
from bot.wiring import build_core
from core.domain import Platform, WorkspaceRef
from core.service import ConsensusService
from core.store.tables import AiResponse, Base, Conversation, Message, RequestBatch, SearchDocument, utcnow

_MIGRATION = importlib.import_module("core.store.migrations.versions.0003_stored_search_vectors")
TARGET_MS = 20.0
WORKSPACES = (("T0BIG", 0.60), ("T0MID", 0.25), ("G0GUILD", 0.10), ("T0SMALL", 0.05))  # shares of all
MEASURED = WorkspaceRef(Platform.SLACK, WORKSPACES[0][0])
ANSWERED_SHARE, FOLLOW_UP_SHARE, ANSWERS_PER_QUESTION = 0.30, 0.10, 3
DEEP_OFFSET = 10_000
CHUNK = 20_000  # rows per executemany (SQLite)
INDEX_BUILD_MEMORY = "256MB"  # PostgreSQL builds a GIN index much faster when it fits in memory

_FUNCTION = (
    "the a to of and is in for it how i my with on what can that do be this from are not or "
    "when an does why use should there get if by at which as have way but all more so one"
).split()
_TOPICAL = (
    "error python database memory test server query cache deploy docker function file user "
    "kubernetes api timeout version build config data network performance react java rust "
    "postgres index thread async install upgrade slack token login leak latency"
).split()
_STARTS = (
    "How do I",
    "What is the best way to",
    "Why does my",
    "Can someone explain how",
    "Is it safe to",
    "What happens when",
    "How should we",
    "Which is better for",
)


def _vocabulary(rng: random.Random, size: int = 40_000) -> list[str]:
    """Function words, then topical words, then a long tail of made-up but word-like tokens."""
    syllables = [c + v for c in "bcdfghklmnprstvz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
    words = dict.fromkeys(_FUNCTION + _TOPICAL)
    while len(words) < size:
        words.setdefault("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) + rng.choice("nrsxl"))
    return list(words)


@dataclass
class Corpus:
    """Rows for the core tables, plus the document frequencies of the measured workspace."""

    conversations: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    batches: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    word_sets: list[set[str]] = field(default_factory=list)  # measured workspace: words per conversation

    def tables(self) -> list[tuple[Table, list[dict[str, Any]]]]:
        """Each table with its rows, parents before children."""
        rows = {
            Conversation: self.conversations,
            Message: self.messages,
            RequestBatch: self.batches,
            AiResponse: self.responses,
            SearchDocument: self.documents,
        }
        return [(Base.metadata.tables[model.__tablename__], table_rows) for model, table_rows in rows.items()]

    def df(self) -> Counter[str]:
        return Counter(word for words in self.word_sets for word in words)

    def matching(self, query: str) -> int:
        """Conversations of the measured workspace holding every word, the last as a prefix."""
        *whole, last = query.lower().split()
        return sum(
            1 for words in self.word_sets if all(w in words for w in whole) and any(w.startswith(last) for w in words)
        )


def build_corpus(n: int, workspace_ids: list[int], seed: int = 7) -> Corpus:
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    cum = []
    total = 0.0
    for rank in range(len(vocab)):
        total += 1.0 / (rank + 1.5)
        cum.append(total)
    pool: list[str] = []

    def words(k: int) -> str:
        if len(pool) < k:
            pool.extend(rng.choices(vocab, cum_weights=cum, k=200_000))
        taken = pool[-k:]
        del pool[-k:]
        return " ".join(taken)

    corpus = Corpus()
    weights = [share for _name, share in WORKSPACES]
    start = utcnow() - timedelta(days=365)
    message_id = batch_id = response_id = 0
    for cid in range(1, n + 1):
        ws = rng.choices(range(len(workspace_ids)), weights=weights)[0]
        created = start + timedelta(seconds=cid * 365 * 86400 / n)
        turns = 2 if rng.random() < FOLLOW_UP_SHARE else 1
        updated = created + timedelta(minutes=rng.randint(1, 600) * (turns - 1))
        seen: set[str] = set()
        title = ""
        for turn in range(turns):
            question = f"{rng.choice(_STARTS)} {words(rng.randint(12, 24))}?"
            title = title or question[:200]
            message_id += 1
            corpus.messages.append(
                {
                    "id": message_id,
                    "conversation_id": cid,
                    "author": f"U{rng.randint(1, 300)}",
                    "content": question,
                    "created_at": created + timedelta(minutes=turn),
                    "metadata": {},
                }
            )
            bodies = [("question", message_id, question)]
            if rng.random() < ANSWERED_SHARE:
                batch_id += 1
                corpus.batches.append(
                    {
                        "id": batch_id,
                        "conversation_id": cid,
                        "message_id": message_id,
                        "expected": ANSWERS_PER_QUESTION,
                        "completed": ANSWERS_PER_QUESTION,
                        "status": "COMPLETED",
                        "created_at": created,
                        "disagree": False,
                    }
                )
                for model in ("openai/gpt-5-mini", "anthropic/claude-sonnet-4-5", "ollama/llama3.2")[
                    :ANSWERS_PER_QUESTION
                ]:
                    response_id += 1
                    body = words(rng.randint(40, 100)) + "."
                    corpus.responses.append(
                        {
                            "id": response_id,
                            "batch_id": batch_id,
                            "message_id": message_id,
                            "conversation_id": cid,
                            "provider_id": model,
                            "model": model.split("/")[1],
                            "label": model.split("/")[0],
                            "status": "completed",
                            "content": body,
                            "summary": body[:120],
                            "ranking_score": 5.0,
                            "created_at": created,
                            "updated_at": created,
                            "metadata": {},
                            "attempts": 1,
                        }
                    )
                    bodies.append(("answer", response_id, body))
            for source, source_id, body in bodies:
                corpus.documents.append(
                    {
                        "workspace_id": workspace_ids[ws],
                        "conversation_id": cid,
                        "source": source,
                        "source_id": source_id,
                        "body": body,
                    }
                )
                if ws == 0:
                    seen.update(body.lower().rstrip("?.").split())
        if ws == 0:
            corpus.word_sets.append(seen)
        corpus.conversations.append(
            {
                "id": cid,
                "workspace_id": workspace_ids[ws],
                "channel": f"C{rng.randint(1, 40):03d}",
                "thread_ref": f"{1_700_000_000 + cid}.000100",
                "title": title,
                "created_by": f"U{rng.randint(1, 300)}",
                "created_at": created,
                "updated_at": updated,
                "archived": False,
            }
        )
    return corpus


async def seed(service: ConsensusService, corpus: Corpus) -> None:
    """Bulk-load the corpus in one transaction (COPY on PostgreSQL), the full-text index built once after
    the rows; PostgreSQL's id sequences are moved past them."""
    async with service.store.write() as repo:
        ids = [
            await repo.workspace_id(WorkspaceRef(Platform.SLACK if name.startswith("T") else Platform.DISCORD, name))
            for name, _share in WORKSPACES
        ]
    if ids != list(range(1, len(WORKSPACES) + 1)):
        raise RuntimeError(f"expected a fresh database, got workspace ids {ids}")
    postgres = service.store.dialect == "postgresql"
    async with service.store.write() as repo:
        connection = await repo.session.connection()
        await _pause_full_text(connection, postgres)
        for table, rows in corpus.tables():
            await (_copy if postgres else _insert)(connection, table, rows)
        await _resume_full_text(connection, postgres)
        if postgres:
            for table, _rows in corpus.tables():
                await connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT max(id) FROM {table.name}))"
                    )
                )
    async with service.store.write() as repo:  # fresh planner statistics, as autovacuum would give
        await repo.session.execute(text("ANALYZE"))


async def _insert(connection: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), CHUNK):
        await connection.execute(insert(table), rows[i : i + CHUNK])


async def _copy(connection: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL's COPY: about twice as fast as inserting the rows one statement at a time."""
    columns = list(rows[0])  # every row of a table has the same keys
    records = [
        tuple(json.dumps(value) if isinstance(value, dict) else value for value in map(row.get, columns))
        for row in rows
    ]
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    await driver.copy_records_to_table(table.name, records=records, columns=columns)


async def _pause_full_text(connection: AsyncConnection, postgres: bool) -> None:
    """Building the full-text index once is much faster than updating it row by row."""
    if postgres:
        await connection.execute(text("DROP INDEX ix_search_documents_tsv"))
    else:
        await connection.execute(text("DROP TRIGGER search_documents_fts_ai"))


async def _resume_full_text(connection: AsyncConnection, postgres: bool) -> None:
    if postgres:
        await connection.execute(text(f"SET LOCAL maintenance_work_mem = '{INDEX_BUILD_MEMORY}'"))
        await connection.execute(text(_MIGRATION.POSTGRES_VECTOR_INDEX))
    else:
        await connection.execute(text(_MIGRATION.SQLITE_FTS_REBUILD))
        await connection.execute(text(_MIGRATION.SQLITE_FTS_INSERT_TRIGGER))


def pick_queries(df: Counter[str]) -> dict[str, str]:
    """A rare word (in a handful of conversations), a common topical word, a two-word prefix query."""
    rare = min((w for w in df if w not in _TOPICAL), key=lambda w: (df[w], w))
    common = max(_TOPICAL, key=lambda w: df[w])
    mid = sorted(_TOPICAL, key=lambda w: df[w])
    first, second = mid[len(mid) // 2], mid[len(mid) // 2 + 1]
    return {
        "search: rare word": rare,
        "search: common word": common,
        "search: two-word prefix": f"{first} {second[:3]}",
    }


async def timed(
    call: Callable[[], Awaitable[Any]], repeats: int, warmup: int = 3
) -> tuple[list[float], list[float], Any]:
    """Wall times, and this process's CPU times (all threads: the driver's too), per call."""
    result = None
    for _ in range(warmup):
        result = await call()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = await call()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu, result


async def measure(url: str, corpus: Corpus, repeats: int) -> list[list[object]]:
    config = Settings(_env_file=None, database_url=url, consensus_models="")
    core = await build_core(config, migrate=True)
    try:
        service = core.service
        start = time.perf_counter()
        await seed(service, corpus)
        seeded = time.perf_counter() - start
        n = len(corpus.conversations)
        in_ws = len(corpus.word_sets)
        print(f"  seeded {n:,} conversations ({len(corpus.documents):,} search documents) in {seeded:.1f} s")
        kinds: dict[str, tuple[str | None, int, str]] = {
            "history: first page": (None, 0, f"all {in_ws:,}"),
            f"history: page at offset {DEEP_OFFSET:,}": (None, DEEP_OFFSET, f"all {in_ws:,}"),
        }
        for kind, query in pick_queries(corpus.df()).items():
            kinds[kind] = (query, 0, f"'{query}': {corpus.matching(query):,}")
        rows: list[list[object]] = []
        for kind, (query, offset, label) in kinds.items():
            took, cpu, found = await timed(lambda q=query, o=offset: service.history(MEASURED, q, 20, o), repeats)
            verdict = "ok" if p95(took) * 1000 <= TARGET_MS else "MISS"
            rows.append([kind, label, len(found), ms(p50(took)), ms(p95(took)), ms(p50(cpu)), verdict])
            print(
                f"  {kind:32} p50 {ms(p50(took)):>7} ms  p95 {ms(p95(took)):>7} ms  "
                f"cpu {ms(p50(cpu)):>6} ms  ({len(found)} rows)"
            )
        return rows
    finally:
        await core.aclose()


async def run(n: int, repeats: int) -> str:
    headers = ["query", "conversations matching", "rows", "p50 ms", "p95 ms", "CPU ms (p50)", f"p95 ≤ {TARGET_MS:g} ms"]
    parts = [
        f"{n:,} conversations over {len(WORKSPACES)} workspaces; measured in the biggest "
        f"({WORKSPACES[0][1]:.0%}); {repeats} timed calls of `service.history` per row after 3 warm-ups. "
        "CPU ms is this process's CPU time per call (all threads, the driver's included): the part "
        "that does not depend on how loaded the shared machine was. PostgreSQL's own work is "
        "in the wall time only."
    ]
    start = time.perf_counter()
    corpus = build_corpus(n, list(range(1, len(WORKSPACES) + 1)))  # fresh databases number them 1..4
    print(f"built {n:,} conversations of text in {time.perf_counter() - start:.1f} s")
    with tempfile.TemporaryDirectory(prefix="consensus-bench-") as folder:
        print("SQLite")
        rows = await measure(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", corpus, repeats)
        parts += ["\n### SQLite (aiosqlite, WAL, FTS5)\n", table(headers, rows)]
    print("PostgreSQL")
    try:
        async with scratch_postgres() as url:
            rows = await measure(url, corpus, repeats)
        parts += ["\n### PostgreSQL (asyncpg, GIN tsvector)\n", table(headers, rows)]
    except PostgresUnavailable as exc:
        print(f"  skipped: {exc}")
        parts.append(f"\n### PostgreSQL\n\nSkipped: {exc}")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="20,000 conversations, fewer repeats")
    ap.add_argument("--conversations", type=int, help="default 100,000 (20,000 with --quick)")
    ap.add_argument("--repeats", type=int, help="timed calls per query (default 30, 15 with --quick)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = ap.parse_args(argv)
    n = args.conversations or (20_000 if args.quick else 100_000)
    body = asyncio.run(run(n, args.repeats or (15 if args.quick else 30)))
    print("\n" + body)
    if not args.no_write:
        write_section("Storage: history and search", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
