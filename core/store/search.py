"""Full-text search over questions and answers: FTS5 on SQLite, tsvector on PostgreSQL.

A person's query is reduced to its words, so no query syntax of either engine can be injected;
every word must match, the last one as a prefix (search-as-you-type).

A page is the newest matching conversations. A common word matches thousands of them, and
building that whole set only to keep 20 was the slow part; so when the match looks large (SQLite:
a capped probe; PostgreSQL: the first step of the walk itself), conversations are walked newest
first through the listing index and the walk stops as soon as the page is full. A rare word (or a
deep page, or a match too sparse to fill the page within the walk's budget) takes the set-based
query, which is cheap then. The indexes behind both (migration 0003): FTS5 with 2- and 3-letter
prefix indexes, and a stored tsvector column on PostgreSQL, so the walk never parses a body.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.store.tables import Conversation, SearchDocument
from core.store.upsert import upsert

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 12
PROBE = 2000  # matching documents from which walking newest first beats building the whole match
BY_LISTING = 500  # matching documents from which SQLite's set query reads the listing index
WALK_CHUNK = 256  # conversations per walk step (doubling)
WALK_MAX = 8192  # conversations walked before a sparse match falls back to the set-based query
WALK_PAGE_MAX = 200  # offset + limit beyond which the walk is not worth it

_SQLITE_PROBE = """
SELECT count(*) FROM (SELECT 1 FROM search_documents_fts WHERE search_documents_fts MATCH :q LIMIT :cap)
"""
# SQLite's walk step: the chunk's conversations with their documents (by the listing index and
# the documents' conversation index), then the full-text matches from the chunk's oldest document
# on (FTS5 seeks by rowid range; a rowid `=`/IN per document re-reads the whole doclist).
_SQLITE_CHUNK = """
SELECT c.id, d.id FROM (SELECT id, updated_at FROM conversations WHERE workspace_id = :ws AND archived = 0
      ORDER BY updated_at DESC, id DESC LIMIT :n OFFSET :skip) c
LEFT JOIN search_documents d ON d.conversation_id = c.id
ORDER BY c.updated_at DESC, c.id DESC
"""
_SQLITE_MATCHES = """
SELECT rowid FROM search_documents_fts WHERE search_documents_fts MATCH :q AND rowid >= :low
"""
_SQLITE_PAGE = """
SELECT c.id FROM conversations c
WHERE c.workspace_id = :ws AND c.archived = 0 AND {by}c.id IN (
    SELECT d.conversation_id FROM search_documents_fts f JOIN search_documents d ON d.id = f.rowid
    WHERE search_documents_fts MATCH :q AND d.workspace_id = :ws)
ORDER BY c.updated_at DESC, c.id DESC LIMIT :limit OFFSET :offset
"""
# A small match is read conversation by conversation (by id) and sorted. For a larger one, `+`
# keeps SQLite off the id lookups: it reads the listing index newest first (the index alone) and
# stops at the page, which saves reading and sorting hundreds of conversations.
_SQLITE_BY_ID, _SQLITE_BY_LISTING = "", "+"
# The page's own documents bound a rowid range, so FTS5 reads only that part of the match.
_SQLITE_SNIPPETS = """
SELECT d.conversation_id, snippet(search_documents_fts, 0, '', '', '…', 16)
FROM search_documents_fts f JOIN search_documents d ON d.id = f.rowid
WHERE search_documents_fts MATCH :q AND d.conversation_id IN ({ids})
  AND f.rowid BETWEEN (SELECT min(id) FROM search_documents WHERE conversation_id IN ({ids}))
                  AND (SELECT max(id) FROM search_documents WHERE conversation_id IN ({ids}))
ORDER BY d.id
"""
_SQLITE_SNIPPETS_RANGE = """
SELECT rowid, snippet(search_documents_fts, 0, '', '', '…', 16) FROM search_documents_fts
WHERE search_documents_fts MATCH :q AND rowid BETWEEN :low AND :high
"""
_PG_MATCH = "d.body_tsv @@ to_tsquery('simple', :q)"
# PostgreSQL's walk checks conversations newest first, one by one: the document index by
# conversation, then the stored vector of a few rows (microseconds each). LATERAL keeps it a
# per-conversation loop that stops at the page; a join could take the GIN bitmap of a prefix
# term, which costs milliseconds however few conversations the page needs.
_PG_WALK = f"""
SELECT c.id FROM (SELECT id, updated_at FROM conversations WHERE workspace_id = :ws AND NOT archived
      ORDER BY updated_at DESC, id DESC LIMIT :n OFFSET :skip) c
CROSS JOIN LATERAL (SELECT 1 FROM search_documents d WHERE d.conversation_id = c.id AND {_PG_MATCH} LIMIT 1) m
ORDER BY c.updated_at DESC, c.id DESC LIMIT :need
"""
PG_WALK_FIRST = 256  # conversations in the first step, which also measures how dense the match is
PG_WALK_MAX = 4096  # conversations walked at most before the set-based query is cheaper
# `+ 0` keeps the planner off the conversation index here: walking it for a sparse match checks
# thousands of rows; the GIN bitmap of a sparse match is small.
_PG_PAGE = f"""
SELECT c.id FROM conversations c
WHERE c.workspace_id = :ws AND NOT c.archived AND c.id IN (
    SELECT d.conversation_id + 0 FROM search_documents d WHERE d.workspace_id = :ws AND {_PG_MATCH})
ORDER BY c.updated_at DESC, c.id DESC LIMIT :limit OFFSET :offset
"""
# The first matching document of each conversation, and only then its (costly) headline.
_PG_SNIPPETS = f"""
SELECT s.conversation_id, ts_headline('simple', s.body, to_tsquery('simple', :q),
       'StartSel="",StopSel="",MaxWords=24,MinWords=8,ShortWord=2')
FROM (SELECT DISTINCT ON (d.conversation_id) d.conversation_id, d.body FROM search_documents d
      WHERE d.conversation_id IN ({{ids}}) AND {_PG_MATCH} ORDER BY d.conversation_id, d.id) s
"""


async def index(session: AsyncSession, documents: Sequence[dict[str, Any]]) -> None:
    """Search documents (workspace_id, conversation_id, source, source_id, body), one statement for
    all; a document already indexed for the same source gets the new body."""
    if documents:
        statement = upsert(session, SearchDocument)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["source", "source_id"], set_={"body": statement.excluded.body}
            ),
            list(documents),
        )


def terms(query: str) -> list[str]:
    return _WORD.findall(query.lower())[:MAX_TERMS]


def sqlite_match(words: list[str]) -> str:
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def postgres_tsquery(words: list[str]) -> str:
    return " & ".join([*words[:-1], words[-1] + ":*"])


Walk = tuple[list[int], dict[int, int]]  # conversation ids, and (SQLite) each one's first matching document


async def _sqlite_chunk(session: AsyncSession, params: dict[str, object]) -> tuple[int, list[int], dict[int, int]]:
    documents: dict[int, list[int]] = {}
    for conversation_id, document_id in (await session.execute(text(_SQLITE_CHUNK), params)).all():
        documents.setdefault(int(conversation_id), []).extend([] if document_id is None else [int(document_id)])
    low = min((d for docs in documents.values() for d in docs), default=None)
    if low is None:
        return len(documents), [], {}
    matched = set((await session.scalars(text(_SQLITE_MATCHES), {"q": params["q"], "low": low})).all())
    first = {c: min(hit) for c, docs in documents.items() if (hit := [d for d in docs if d in matched])}
    return len(documents), list(first), first


async def _sqlite_walk(session: AsyncSession, params: dict[str, object], need: int) -> Walk | None:
    """Matching conversation ids, newest first, up to `need`; None when the match is too sparse."""
    hits: list[int] = []
    first: dict[int, int] = {}
    skip, n = 0, max(WALK_CHUNK, need * 4)
    while skip < WALK_MAX:
        seen, found, documents = await _sqlite_chunk(session, {**params, "n": n, "skip": skip})
        hits += found
        first.update(documents)
        if len(hits) >= need or seen < n:  # the page is full, or every conversation was seen
            return hits[:need], first
        skip, n = skip + n, n * 2
    return None


async def _sqlite_page_ids(session: AsyncSession, params: dict[str, object], limit: int, offset: int) -> Walk:
    need = offset + limit
    matching = await session.scalar(text(_SQLITE_PROBE), {**params, "cap": PROBE}) or 0
    if not matching:
        return [], {}
    if matching >= PROBE and need <= WALK_PAGE_MAX:
        walked = await _sqlite_walk(session, params, need)
        if walked is not None:
            return walked[0][offset:], walked[1]
    page = _SQLITE_PAGE.format(by=_SQLITE_BY_LISTING if matching >= BY_LISTING else _SQLITE_BY_ID)
    return [int(i) for i in await session.scalars(text(page), {**params, "limit": limit, "offset": offset})], {}


async def _pg_walk_step(session: AsyncSession, params: dict[str, object], skip: int, n: int, need: int) -> list[int]:
    rows = await session.scalars(text(_PG_WALK), {**params, "skip": skip, "n": n, "need": need})
    return [int(i) for i in rows]


async def _pg_walk(session: AsyncSession, params: dict[str, object], need: int) -> Walk | None:
    """Matching conversation ids, newest first, up to `need`; None when the match is too sparse."""
    found = await _pg_walk_step(session, params, 0, PG_WALK_FIRST, need)
    if len(found) >= need:
        return found, {}
    # The first step's hits say how far the page lies; beyond the walk's reach, build the set.
    if not found or PG_WALK_FIRST * need / len(found) > PG_WALK_MAX:
        return None
    found += await _pg_walk_step(session, params, PG_WALK_FIRST, PG_WALK_MAX - PG_WALK_FIRST, need - len(found))
    return (found, {}) if len(found) >= need else None


async def _pg_page_ids(session: AsyncSession, params: dict[str, object], limit: int, offset: int) -> Walk:
    need = offset + limit
    if need <= WALK_PAGE_MAX:
        walked = await _pg_walk(session, params, need)
        if walked is not None:
            return walked[0][offset:], walked[1]
    return [int(i) for i in await session.scalars(text(_PG_PAGE), {**params, "limit": limit, "offset": offset})], {}


async def page_ids(session: AsyncSession, workspace_id: int, q: str, limit: int, offset: int, postgres: bool) -> Walk:
    params: dict[str, object] = {"ws": workspace_id, "q": q}
    return await (_pg_page_ids if postgres else _sqlite_page_ids)(session, params, limit, offset)


async def _snippets(
    session: AsyncSession, postgres: bool, q: str, ids: list[int], first: dict[int, int]
) -> dict[int, str]:
    snippets: dict[int, str] = {}
    documents = {first[i]: i for i in ids if i in first}
    if documents and len(documents) == len(ids):  # SQLite, after a walk: the matching documents are known
        rows = await session.execute(
            text(_SQLITE_SNIPPETS_RANGE), {"q": q, "low": min(documents), "high": max(documents)}
        )
        return {documents[rowid]: snippet for rowid, snippet in rows if rowid in documents}
    id_list = ", ".join(str(int(i)) for i in ids)
    for conversation_id, snippet in await session.execute(
        text((_PG_SNIPPETS if postgres else _SQLITE_SNIPPETS).format(ids=id_list)), {"q": q}
    ):
        snippets.setdefault(conversation_id, snippet)
    return snippets


async def search(
    session: AsyncSession, workspace_id: int, query: str, limit: int, offset: int
) -> list[tuple[Conversation, str]]:
    words = terms(query)
    if not words:
        return []
    postgres = session.get_bind().dialect.name == "postgresql"
    q = postgres_tsquery(words) if postgres else sqlite_match(words)
    ids, first = await page_ids(session, workspace_id, q, limit, offset, postgres)
    if not ids:
        return []
    snippets = await _snippets(session, postgres, q, ids, first)
    rows = {c.id: c for c in await session.scalars(select(Conversation).where(Conversation.id.in_(ids)))}
    return [(rows[i], snippets.get(i, "")) for i in ids if i in rows]
